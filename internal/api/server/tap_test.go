package server

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTapQuery(t *testing.T) {
	v, _ := url.ParseQuery("service=catalog&path=/a&method=GET&status=5xx&direction=inbound&rate=50&max=3&duration=10s")
	q, err := tapQuery(v)
	if err != nil || q.Service != "catalog" || q.Path != "/a" || q.Method != "GET" || q.Status != "5xx" || q.Direction != "inbound" ||
		q.Rate != 50 || q.Max != 3 || q.Duration != 10*time.Second {
		t.Fatalf("%+v %v", q, err)
	}
	for raw, want := range map[string]string{
		"path=/a":                    "service: required",
		"service=a&service=b":        `"service": given 2 times`,
		"service=a&headers=x":        `"headers": unknown`,
		"service=a&rate=-1":          "rate",
		"service=a&max=x":            "max",
		"service=a&duration=forever": "duration",
		"service=a&duration=-1s":     "duration",
	} {
		v, _ := url.ParseQuery(raw)
		if _, err := tapQuery(v); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an invalid error naming %s", raw, err, want)
		}
	}
}

func FuzzTapQuery(f *testing.F) {
	f.Add("service=catalog&path=/a&method=GET&status=5xx&direction=inbound&rate=50&max=3&duration=10s")
	f.Add("service=a&rate=-1&max=99999999999999999999")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := tapQuery(v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %v is not ErrInvalid", raw, err)
			}
			return
		}
		if q.Service == "" || q.Rate < 0 || q.Max < 0 || q.Duration < 0 {
			t.Fatalf("%q: accepted %+v", raw, q)
		}
	})
}

// Command echo runs the demo echo app on its own, as a real upstream process.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/weft-mesh/weft/demo/echo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	service := flag.String("service", "echo", "service name to report")
	version := flag.String("version", "v1", "version to report")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: echo.Handler(*service, *version), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

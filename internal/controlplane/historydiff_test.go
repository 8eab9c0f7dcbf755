package controlplane

import (
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/api"
)

func TestHistoryChangesKeepDiffsWithinBudget(t *testing.T) {
	big := strings.Repeat("x", maxHistoryDiffBytes-10)
	got := historyChanges([]api.Change{
		{Key: "a", Action: "unchanged"},
		{Key: "b", Action: "configured", Diff: big},
		{Key: "c", Action: "created", Diff: "+ 12345678901"}, // past the budget
		{Key: "d", Action: "deleted", Diff: "- 1"},
	})
	if len(got) != 3 || got[0].Diff != big || got[1].Key != "c" || got[1].Diff != "" || got[2].Diff != "- 1" {
		t.Fatalf("history changes %+v", got)
	}
}

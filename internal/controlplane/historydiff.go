package controlplane

import "github.com/weft-mesh/weft/internal/api"

// maxHistoryDiffBytes bounds the diffs one history entry keeps, so the
// history (whole resources per revision) grows by little: a large apply
// keeps the first diffs and the rest name only key and action.
const maxHistoryDiffBytes = 64 << 10

// historyChanges is what a revision's history entry records: every change
// but the unchanged, with its diff while the budget lasts (the dashboard's
// history page shows them).
func historyChanges(changes []api.Change) []api.Change {
	var out []api.Change
	budget := maxHistoryDiffBytes
	for _, ch := range changes {
		if ch.Action == "unchanged" {
			continue
		}
		c := api.Change{Key: ch.Key, Action: ch.Action}
		if len(ch.Diff) <= budget {
			c.Diff = ch.Diff
			budget -= len(ch.Diff)
		}
		out = append(out, c)
	}
	return out
}

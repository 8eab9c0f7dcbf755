// Package demo holds the demo shop's apps. None of them knows about Weft:
// each listens on $PORT and calls other services by name, as any app
// would. The Python and Node sources are embedded so that `weft demo`
// can write them out and run them from any directory.
package demo

import "embed"

// Sources holds frontend/frontend.py and ratings/ratings.js.
//
//go:embed frontend/frontend.py ratings/ratings.js
var Sources embed.FS

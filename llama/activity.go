package llama

import "context"

// Activity says where a forward or backward pass is: Pass is "forward" or
// "backward", Layer counts the blocks done in that pass (1..Layers).
type Activity struct {
	Pass          string
	Layer, Layers int
}

type activityKey struct{}

// WithActivity returns a context whose training passes call fn after every
// block (forward and backward). A long step then shows signs of life, and
// under GOOS=js fn may hand the thread back to the JavaScript event loop.
// fn runs on the training goroutine: it must be quick.
func WithActivity(ctx context.Context, fn func(Activity)) context.Context {
	return context.WithValue(ctx, activityKey{}, fn)
}

// report calls ctx's activity function, if any.
func report(ctx context.Context, pass string, layer, layers int) {
	if fn, ok := ctx.Value(activityKey{}).(func(Activity)); ok && fn != nil {
		fn(Activity{Pass: pass, Layer: layer, Layers: layers})
	}
}

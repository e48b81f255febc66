// Command quickstart is the README's quick start: a three-step pipeline.
//
// Like every example program it stops on SIGINT (Ctrl-C) and SIGTERM alike
// (signals.go): it keeps no checkpoint, so the run is cancelled, one line
// says to run it again, and the exit status is 128 plus the signal's
// number (130, 143). Its input is six words, so that is rarely seen.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/brook-streams/brook/stream"
)

func main() {
	ctx, stop := cancelOnSignal()
	defer stop()
	p := stream.New()
	words := stream.From(p, stream.Slice(strings.Fields("to be or not to be")))
	long := stream.Filter(words, func(w string) bool { return len(w) > 2 })
	upper := stream.Map(long, strings.ToUpper)
	out := stream.Collect[string]()
	stream.To(upper, out)
	if err := p.Run(ctx); err != nil {
		if code, ok := stoppedBySignal(ctx, os.Stderr); ok {
			stop()
			os.Exit(code)
		}
		panic(err)
	}
	fmt.Println(out.Values()) // [NOT]
}

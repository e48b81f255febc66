// Command quickstart is the README's quick start: a three-step pipeline.
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/brook-streams/brook/stream"
)

func main() {
	p := stream.New()
	words := stream.From(p, stream.Slice(strings.Fields("to be or not to be")))
	long := stream.Filter(words, func(w string) bool { return len(w) > 2 })
	upper := stream.Map(long, strings.ToUpper)
	out := stream.Collect[string]()
	stream.To(upper, out)
	if err := p.Run(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(out.Values()) // [NOT]
}

package jsonl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
)

func Example() {
	input := `{"user":"ann","track":7}
{"user":"bob","track":"seven"}
{"user":"cy","track":9}
`
	decode := func(b []byte) (play, error) {
		var p play
		err := json.Unmarshal(b, &p)
		return p, err
	}
	p := stream.New()
	plays := jsonl.Decode(stream.From(p, jsonl.Reader(strings.NewReader(input), decode)))
	// Good values go on, re-encoded as JSON Lines.
	stream.To(stream.Map(plays.Stream, func(p play) int { return p.Track }), jsonl.NewWriter[int](os.Stdout))
	// Bad lines go to the dead-letter output with their number and reason.
	stream.To(plays.DeadLetters(), stream.SinkFunc[stream.DeadLetter[jsonl.Line[play]]](
		func(_ context.Context, r stream.Record[stream.DeadLetter[jsonl.Line[play]]]) error {
			fmt.Printf("dead letter: line %d: %s\n", r.Value.Record.Value.Num, r.Value.Record.Value.Raw)
			return nil
		}))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// dead letter: line 2: {"user":"bob","track":"seven"}
	// 7
	// 9
}

// ExampleMembers decodes an object line strictly with Members and its
// Field methods; an error is the line's dead-letter reason.
func ExampleMembers() {
	decode := func(line string) {
		f, err := jsonl.Members([]byte(line), "user", "ms")
		if err != nil {
			fmt.Println(err)
			return
		}
		user, err := f[0].Text()
		if err != nil {
			fmt.Println(err)
			return
		}
		ms, err := f[1].Int()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(user, ms)
	}
	decode(`{"user":"u-1","ms":1500,"extra":[1,2]}`)
	decode(`{"user":"u-1","ms":1.5}`)
	decode(`{"ms":3}`)
	decode(`[1,2]`)
	// Output:
	// u-1 1500
	// ms 1.5 is not an integer
	// missing user
	// not a JSON object: found array
}

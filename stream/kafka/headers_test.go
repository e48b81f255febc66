package kafka_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

// TestSinkHeaders: Headers sets each record's headers from its value; a
// function of the wrong type fails the run.
func TestSinkHeaders(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 1, "hd")
	in := plays(20)
	p := stream.New()
	stream.To(stream.From(p, stream.Slice(in)), kafka.NewSink("hd", func(v play) ([]byte, error) { return json.Marshal(v) },
		kafka.Brokers(addr),
		kafka.Headers(func(v play) []kgo.RecordHeader {
			return []kgo.RecordHeader{{Key: "seq", Value: strconv.AppendInt(nil, int64(v.Seq), 10)}}
		})))
	require.NoError(t, p.Run(context.Background()))

	cons := client(t, addr, kgo.ConsumeTopics("hd"))
	for n := 0; n < len(in); {
		f := cons.PollFetches(context.Background())
		require.NoError(t, f.Err0())
		f.EachRecord(func(r *kgo.Record) {
			n++
			got, err := decodePlay(r)
			require.NoError(t, err)
			require.Len(t, r.Headers, 1)
			assert.Equal(t, "seq", r.Headers[0].Key)
			assert.Equal(t, strconv.Itoa(got.Seq), string(r.Headers[0].Value))
		})
	}

	p = stream.New()
	stream.To(stream.From(p, stream.Slice(in)), kafka.NewSink("hd", func(v play) ([]byte, error) { return json.Marshal(v) },
		kafka.Brokers(addr), kafka.Headers(func(string) []kgo.RecordHeader { return nil })))
	require.ErrorIs(t, p.Run(context.Background()), stream.ErrInvalid)
}

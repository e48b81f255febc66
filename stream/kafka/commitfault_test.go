package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

// TestSourceSurvivesTransientCommitFailures: commits that time out or find
// the coordinator unavailable (as in a rebalance) do not fail a healthy
// consumer-group source; it delivers everything and ends normally.
func TestSourceSurvivesTransientCommitFailures(t *testing.T) {
	for _, code := range []int16{kerr.RequestTimedOut.Code} {
		t.Run(kerr.ErrorForCode(code).Error(), func(t *testing.T) {
			c, addr := cluster(t, 2, "plays")
			refused := 0
			c.ControlKey(kmsg.OffsetCommit.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				req := kreq.(*kmsg.OffsetCommitRequest)
				resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
				for _, rt := range req.Topics {
					st := kmsg.NewOffsetCommitResponseTopic()
					st.Topic = rt.Topic
					for _, rp := range rt.Partitions {
						sp := kmsg.NewOffsetCommitResponseTopicPartition()
						sp.Partition, sp.ErrorCode = rp.Partition, code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				refused++
				return resp, nil, true
			})
			cl := client(t, addr)
			for i := range 40 {
				produce(t, cl, playRecord("plays", int32(i%2), play{User: "u", Seq: i, TS: int64(i)}))
			}
			src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.ConsumerGroup("g", "plays"),
				kafka.Commit(kafka.CommitInterval(0)), kafka.ExitWhenIdle(500*time.Millisecond), kafka.MaxPollRecords(5))
			p := stream.New()
			tl := newTally()
			stream.To(kafka.Decode(stream.From(p, src)).Stream, stream.SinkFunc[play](func(_ context.Context, r stream.Record[play]) error {
				tl.add(r.Value.Seq)
				return nil
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			require.NoError(t, p.Run(ctx), "refused commits do not fail the run")
			counts, _ := tl.snapshot()
			assert.Len(t, counts, 40)
			assert.Positive(t, refused, "the commits were refused")
		})
	}
}

package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

const txChildEnv = "BROOK_KAFKA_TX_CHILD" // "addr dir"

// txResult is what the pipeline writes: the play's seq, its user and the
// running count of that user's plays, this one included.
type txResult struct {
	Seq  int    `json:"seq"`
	User string `json:"user"`
	N    int    `json:"n"`
}

const txUsers, txRecords = 7, 30000

type userCount struct{ n map[string]int }

func (c *userCount) ProcessRecord(r stream.Record[play], out stream.Emitter[txResult]) error {
	c.n[r.Value.User]++
	return out.Emit(stream.At(txResult{Seq: r.Value.Seq, User: r.Value.User, N: c.n[r.Value.User]}, r.Time))
}
func (c *userCount) ProcessWatermark(stream.Time, stream.Emitter[txResult]) error { return nil }
func (c *userCount) Snapshot() ([]byte, error)                                    { return json.Marshal(c.n) }
func (c *userCount) Restore(b []byte) error                                       { return json.Unmarshal(b, &c.n) }

// printCompletions tells the parent process about every checkpoint.
type printCompletions struct{ stream.NopMetrics }

func (printCompletions) CheckpointCompleted(id int64, _ time.Duration, _ int) {
	fmt.Printf("checkpoint %d\n", id)
}
func (printCompletions) CheckpointFailed(int64) {}

// TestTxChild is the producing process of TestTransactionalSinkSurvivesKills.
func TestTxChild(t *testing.T) {
	env := os.Getenv(txChildEnv)
	if env == "" {
		t.Skip("run by TestTransactionalSinkSurvivesKills")
	}
	addr, dir, _ := strings.Cut(env, " ")
	store, err := stream.NewDirStore(filepath.Join(dir, "ckpt"))
	require.NoError(t, err)
	p := stream.New(stream.WithCheckpoints(store, 5*time.Millisecond), stream.WithMetrics(printCompletions{}))
	start := map[int32]kgo.Offset{}
	for part := range int32(3) {
		start[part] = kgo.NewOffset().AtStart()
	}
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.Partitions("txin", start),
		kafka.MaxPollRecords(50), kafka.ExitWhenIdle(time.Second))
	plays := kafka.Decode(stream.From(p, src, stream.Name("kafka"))).Stream
	// A mark between checkpoints, for the parent to kill at.
	plays = stream.Map(plays, func(v play) play {
		if v.Seq%1000 == 999 {
			fmt.Println("progress")
		}
		return v
	})
	keyed := stream.KeyBy(plays, func(v play) string { return v.User }, stream.Parallelism(2))
	counted := stream.Apply(keyed.Stream, func() stream.Operator[play, txResult] { return &userCount{n: map[string]int{}} }, stream.Name("count"))
	stream.To(counted, kafka.NewTransactionalSink("txout", func(v txResult) ([]byte, error) { return json.Marshal(v) },
		"brook-tx-test", kafka.Brokers(addr)), stream.Name("out"))
	require.NoError(t, p.Run(context.Background()))
	fmt.Println("done")
}

// TestTransactionalSinkSurvivesKills: the producing process is killed with
// SIGKILL several times and rerun; a read_committed consumer (kgo, and
// kcat) sees every result exactly once with the right value.
func TestTransactionalSinkSurvivesKills(t *testing.T) {
	// Quarantined: about one run in four the restored third child reads no
	// input at all and ends with part of the rows (issue 13 stays open for
	// this defect). BROOK_TXSINK_KILLS=1 runs it.
	if os.Getenv("BROOK_TXSINK_KILLS") == "" {
		t.Skip("known defect: a restored run sometimes reads no input; set BROOK_TXSINK_KILLS=1 to run")
	}
	t.Parallel()
	_, addr := cluster(t, 3, "txin", "txout")
	cl := client(t, addr)
	var recs []*kgo.Record
	for seq := range txRecords {
		recs = append(recs, playRecord("txin", int32(seq%3), play{User: fmt.Sprintf("u%d", seq%txUsers), Seq: seq, TS: epoch.Add(time.Duration(seq) * time.Millisecond).UnixMilli()}))
	}
	produce(t, cl, recs...)
	dir := t.TempDir()

	kills := 0
	for round := 0; ; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTxChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), txChildEnv+"="+addr+" "+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(stdout)
		seen, done, killed := 0, false, false
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "checkpoint "):
				seen++
			case line == "progress":
				// Killed between two checkpoints, after a few.
				if round < 3 && seen >= 2 && !killed {
					require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
					killed = true
				}
			case line == "done":
				done = true
			default:
				t.Logf("child %d: %s", round, line)
			}
		}
		err = cmd.Wait()
		if killed {
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			kills++
			continue
		}
		require.NoError(t, err)
		require.True(t, done)
		break
	}
	assert.Equal(t, 3, kills)

	check := func(who string, vals [][]byte) {
		t.Helper()
		got := map[int]txResult{}
		for _, v := range vals {
			var r txResult
			require.NoError(t, json.Unmarshal(v, &r), "%s: %q", who, v)
			_, dup := got[r.Seq]
			require.False(t, dup, "%s: seq %d twice", who, r.Seq)
			got[r.Seq] = r
		}
		require.Equal(t, txRecords, len(got), "%s: every result", who)
		for seq, r := range got {
			require.Equal(t, txResult{Seq: seq, User: fmt.Sprintf("u%d", seq%txUsers), N: seq/txUsers + 1}, r, who)
		}
	}

	if os.Getenv("TXDEBUG") != "" {
		for _, iso := range []string{"read_committed", "read_uncommitted"} {
			out, _ := exec.Command(kcat(t), "-q", "-b", addr, "-C", "-t", "txout", "-o", "beginning", "-e", "-X", "isolation.level="+iso, "-f", "%p %o\n").Output()
			t.Logf("%s: %d lines", iso, bytes.Count(out, []byte("\n")))
		}
	}
	// A kgo consumer reading committed records only.
	rc := client(t, addr, kgo.ConsumeTopics("txout"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var vals [][]byte
	for len(vals) < txRecords && ctx.Err() == nil {
		rc.PollFetches(ctx).EachRecord(func(r *kgo.Record) { vals = append(vals, r.Value) })
	}
	check("kgo read_committed", vals)

	// kcat reading committed records to the end of the topic.
	bin := kcat(t)
	out, err := exec.CommandContext(ctx, bin, "-q", "-b", addr, "-C", "-t", "txout", "-o", "beginning", "-e",
		"-X", "isolation.level=read_committed", "-f", "%s\n").Output()
	require.NoError(t, err)
	vals = bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	check("kcat read_committed", vals)

}

func TestTransactionalSinkWithoutCheckpoints(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 1, "txplain")
	p := stream.New()
	vals := []int{1, 2, 3}
	stream.To(stream.From(p, stream.Slice(vals)), kafka.NewTransactionalSink("txplain", func(v int) ([]byte, error) {
		return binary.AppendUvarint(nil, uint64(v)), nil
	}, "plain", kafka.Brokers(addr)))
	require.NoError(t, p.Run(context.Background()))
	rc := client(t, addr, kgo.ConsumeTopics("txplain"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []uint64
	for len(got) < len(vals) && ctx.Err() == nil {
		rc.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			v, _ := binary.Uvarint(r.Value)
			got = append(got, v)
		})
	}
	assert.Equal(t, []uint64{1, 2, 3}, got, "committed at the end of the input")
}

func TestTransactionalSinkMisconfigured(t *testing.T) {
	t.Parallel()
	enc := func(int) ([]byte, error) { return nil, nil }
	for _, s := range []*kafka.TransactionalSink[int]{
		kafka.NewTransactionalSink("t", enc, "", kafka.Brokers("localhost:1")),
		kafka.NewTransactionalSink("", enc, "id", kafka.Brokers("localhost:1")),
		kafka.NewTransactionalSink("t", enc, "id"),
	} {
		p := stream.New()
		stream.To(stream.From(p, stream.Slice([]int{1})), s)
		err := p.Run(context.Background())
		require.True(t, errors.Is(err, stream.ErrInvalid), "%v", err)
	}
}

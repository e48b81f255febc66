package kafka_test

import (
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

const txChildEnv = "BROOK_KAFKA_TX_CHILD" // "addr dir mode"

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

// txKiller kills the child process with SIGKILL at a point set by its mode,
// once the run has completed two checkpoints and handled enough records:
// "mid" at a record between two checkpoints (a transaction open, earlier
// ones committed), "saved" right after a checkpoint is stored and before
// its transaction is committed (the restored run must commit it). A run
// whose input is used up is killed after a few more checkpoints. Mode ""
// runs to the end.
type txKiller struct {
	stream.NopMetrics
	mode    string
	records atomic.Int64
	ckpts   atomic.Int64
}

const txKillAfter = 2000 // records handled by the run

func (k *txKiller) due() bool {
	c := k.ckpts.Load()
	return c >= 2 && (k.records.Load() >= txKillAfter || c >= 20)
}

func (k *txKiller) kill() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
}

func (k *txKiller) record() {
	k.records.Add(1)
	if k.mode == "mid" && k.due() {
		k.kill()
	}
}

func (k *txKiller) CheckpointCompleted(int64, time.Duration, int) {
	k.ckpts.Add(1)
	if k.mode == "mid" && k.due() {
		k.kill() // the input is used up
	}
}
func (k *txKiller) CheckpointFailed(int64) {}

// killingStore kills the process right after a checkpoint is stored, in
// mode "saved".
type killingStore struct {
	stream.CheckpointStore
	k *txKiller
}

func (s killingStore) Save(ctx context.Context, cp *stream.Checkpoint) error {
	err := s.CheckpointStore.Save(ctx, cp)
	if err == nil && s.k.mode == "saved" && s.k.due() {
		s.k.kill()
	}
	return err
}

// TestTxChild is the producing process of TestTransactionalSinkSurvivesKills.
func TestTxChild(t *testing.T) {
	env := os.Getenv(txChildEnv)
	if env == "" {
		t.Skip("run by TestTransactionalSinkSurvivesKills")
	}
	f := strings.Fields(env)
	require.GreaterOrEqual(t, len(f), 2)
	addr, dir := f[0], f[1]
	k := &txKiller{}
	if len(f) > 2 {
		k.mode = f[2]
	}
	dirStore, err := stream.NewDirStore(filepath.Join(dir, "ckpt"))
	require.NoError(t, err)
	p := stream.New(stream.WithCheckpoints(killingStore{dirStore, k}, 5*time.Millisecond), stream.WithMetrics(k))
	start := map[int32]kgo.Offset{}
	for part := range int32(3) {
		start[part] = kgo.NewOffset().AtStart()
	}
	src := kafka.NewSource(decodePlay, kafka.Brokers(addr), kafka.Partitions("txin", start),
		kafka.MaxPollRecords(50), kafka.ExitWhenIdle(5*time.Second)) // generous: CI runs the children under -race beside other tests
	plays := kafka.Decode(stream.From(p, src, stream.Name("kafka"))).Stream
	plays = stream.Map(plays, func(v play) play {
		k.record()
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
// SIGKILL three times, between checkpoints and between a checkpoint's store
// and its commit, and rerun; a read_committed consumer (kgo, and kcat) sees
// every result exactly once with the right value.
func TestTransactionalSinkSurvivesKills(t *testing.T) {
	t.Parallel()
	_, addr := cluster(t, 3, "txin", "txout")
	cl := client(t, addr)
	var recs []*kgo.Record
	for seq := range txRecords {
		// Keyed by user: the partitioner puts each user's plays on one
		// partition, and the client fetches the partitions unevenly.
		recs = append(recs, playRecord("txin", int32(seq%3), play{User: fmt.Sprintf("u%d", seq%txUsers), Seq: seq, TS: epoch.Add(time.Duration(seq) * time.Millisecond).UnixMilli()}))
	}
	produce(t, cl, recs...)
	dir := t.TempDir()

	for round, mode := range []string{"mid", "saved", "mid", ""} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTxChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), txChildEnv+"="+addr+" "+dir+" "+mode)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if mode != "" {
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "child %d (%s) was killed", round, mode)
			ws, ok := ee.Sys().(syscall.WaitStatus)
			require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child %d (%s): %v", round, mode, err)
			continue
		}
		require.NoError(t, err, "last child")
		require.Contains(t, string(out), "done\n")
	}

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

package jsonl_test

import (
	"bufio"
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

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/jsonl"
)

// The crash test runs the pipeline in a child process (this test binary,
// re-executed), kills it with SIGKILL a few times after it reported a
// checkpoint, and reruns it to the end.
const crashChildEnv = "BROOK_JSONL_CRASH_CHILD"

type crashIn struct {
	I int `json:"i"`
	K int `json:"k"`
}

type crashOut struct {
	I int `json:"i"`
	K int `json:"k"`
	N int `json:"n"` // the running count of key K, this row included
}

// runningCount counts rows per key.
type runningCount struct{ n map[int]int }

func (c *runningCount) ProcessRecord(r stream.Record[crashIn], out stream.Emitter[crashOut]) error {
	c.n[r.Value.K]++
	return out.Emit(stream.At(crashOut{I: r.Value.I, K: r.Value.K, N: c.n[r.Value.K]}, r.Time))
}
func (c *runningCount) ProcessWatermark(stream.Time, stream.Emitter[crashOut]) error { return nil }
func (c *runningCount) Snapshot() ([]byte, error) {
	var b []byte
	for k := range crashKeys {
		b = binary.AppendUvarint(b, uint64(c.n[k]))
	}
	return b, nil
}
func (c *runningCount) Restore(b []byte) error {
	for k := range crashKeys {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad counts")
		}
		c.n[k], b = int(v), b[n:]
	}
	return nil
}

const crashKeys, crashRows = 7, 100000

// printCheckpoints tells the parent about every completed checkpoint.
type printCheckpoints struct{ stream.NopMetrics }

func (printCheckpoints) CheckpointCompleted(id int64, _ time.Duration, _ int) {
	fmt.Printf("checkpoint %d\n", id)
}
func (printCheckpoints) CheckpointFailed(int64) {}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestKilledFileToFilePipelineIsExactlyOnce")
	}
	store, err := stream.NewDirStore(filepath.Join(dir, "ckpt"))
	require.NoError(t, err)
	p := stream.New(stream.WithCheckpoints(store, time.Millisecond), stream.WithMetrics(printCheckpoints{}))
	lines := stream.From(p, jsonl.File(filepath.Join(dir, "in.jsonl"), func(b []byte) (crashIn, error) {
		var v crashIn
		err := json.Unmarshal(b, &v)
		return v, err
	}))
	rows := jsonl.Decode(lines).Stream
	keyed := stream.KeyBy(rows, func(v crashIn) int { return v.K }, stream.Parallelism(2))
	counted := stream.Apply(keyed.Stream, func() stream.Operator[crashIn, crashOut] { return &runningCount{n: map[int]int{}} }, stream.Name("count"))
	stream.To(counted, jsonl.CreateFile[crashOut](filepath.Join(dir, "out.jsonl")))
	require.NoError(t, p.Run(context.Background()))
	fmt.Println("done")
}

func TestKilledFileToFilePipelineIsExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	var in strings.Builder
	for i := range crashRows {
		fmt.Fprintf(&in, `{"i":%d,"k":%d}`+"\n", i, i%crashKeys)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(in.String()), 0o644))

	kills := 0
	for round := 0; ; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
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
				// Kill rounds 0-2 some checkpoints in, at a point the
				// child has gone on from.
				if round < 3 && seen == 1+round%2 && !killed {
					require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
					killed = true
				}
			case line == "done":
				done = true
			}
		}
		err = cmd.Wait()
		if killed {
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			kills++
			continue
		}
		require.NoError(t, err, "the last run finishes")
		require.True(t, done)
		break
	}
	assert.GreaterOrEqual(t, kills, 3, "the child was killed before it finished")

	data, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	require.NoError(t, err)
	seen := make([]bool, crashRows)
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var r crashOut
		require.NoError(t, json.Unmarshal([]byte(line), &r), "line %d: %q", n+1, line)
		require.True(t, r.I >= 0 && r.I < crashRows, "row %d", r.I)
		require.False(t, seen[r.I], "row %d twice", r.I)
		seen[r.I] = true
		assert.Equal(t, r.I%crashKeys, r.K, "row %d", r.I)
		assert.Equal(t, r.I/crashKeys+1, r.N, "row %d: the running count of its key", r.I)
		n++
	}
	assert.Equal(t, crashRows, n, "every row exactly once")
}

func TestWriterRestoreRefusesAShorterFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	w := jsonl.CreateFile[int](path)
	require.NoError(t, w.Open(nil))
	for i := range 3 {
		require.NoError(t, w.Write(context.Background(), stream.At(i, 0)))
	}
	require.NoError(t, w.Sync(context.Background()))
	state, err := w.Snapshot()
	require.NoError(t, err)
	require.NoError(t, w.Write(context.Background(), stream.At(99, 0)))
	require.NoError(t, w.Close())
	data, _ := os.ReadFile(path)
	assert.Equal(t, "0\n1\n2\n99\n", string(data))

	// Restored: cut back to the checkpoint, then written on.
	w2 := jsonl.CreateFile[int](path)
	require.NoError(t, w2.Restore(state))
	require.NoError(t, w2.Open(nil))
	require.NoError(t, w2.Write(context.Background(), stream.At(3, 0)))
	require.NoError(t, w2.Close())
	data, _ = os.ReadFile(path)
	assert.Equal(t, "0\n1\n2\n3\n", string(data))

	// A file shorter than the checkpoint is an error, and is left alone.
	require.NoError(t, os.WriteFile(path, []byte("0\n"), 0o644))
	w3 := jsonl.CreateFile[int](path)
	require.NoError(t, w3.Restore(state))
	assert.ErrorIs(t, w3.Open(nil), stream.ErrInvalid)
	require.NoError(t, w3.Close())
	data, _ = os.ReadFile(path)
	assert.Equal(t, "0\n", string(data))
}

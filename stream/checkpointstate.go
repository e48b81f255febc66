package stream

import (
	"strconv"

	"github.com/brook-streams/brook/stream/codec"
)

// OperatorState returns what the [Snapshotter] of instance inst of the
// source, operator or sink named name saved in cp (its Snapshot's bytes),
// and false if cp holds nothing of that instance. It is for programs that
// read a stored checkpoint without running the pipeline: a report merging
// the state several pipelines checkpointed, a debugging tool. State kept by
// key group ([KeyGroupSnapshotter]) is not included.
func (cp *Checkpoint) OperatorState(name string, inst int) ([]byte, bool, error) {
	b, ok := cp.States[name+"/"+strconv.Itoa(inst)]
	if !ok {
		return nil, false, nil
	}
	d := codec.NewDecoder(b, "state of "+name)
	d.Int() // the instance's watermark
	rest := d.Rest()
	if err := d.Finish(); err != nil {
		return nil, false, err
	}
	return rest, true, nil
}

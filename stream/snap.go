package stream

import (
	"encoding/binary"
	"fmt"
)

// pairSnapshotter snapshots two optional parts as one state.
type pairSnapshotter [2]Snapshotter

func (p pairSnapshotter) Snapshot() ([]byte, error) {
	var buf []byte
	for _, s := range p {
		var st []byte
		if s != nil {
			var err error
			if st, err = s.Snapshot(); err != nil {
				return nil, err
			}
		}
		buf = binary.AppendUvarint(buf, uint64(len(st)))
		buf = append(buf, st...)
	}
	return buf, nil
}

func (p pairSnapshotter) Restore(b []byte) error {
	for _, s := range p {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return fmt.Errorf("%w: truncated state", ErrCorruptCheckpoint)
		}
		part := b[n : n+int(l)]
		b = b[n+int(l):]
		if s != nil {
			if err := s.Restore(part); err != nil {
				return err
			}
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: trailing state bytes", ErrCorruptCheckpoint)
	}
	return nil
}

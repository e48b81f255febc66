package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
)

// SourceOption configures a [Source]. Options are values of a sealed
// interface.
type SourceOption interface{ applySource(*sourceConfig) }

// SinkOption configures a [Sink]. Options are values of a sealed interface.
type SinkOption interface{ applySink(*sinkConfig) }

// Option configures both a [Source] and a [Sink].
type Option interface {
	SourceOption
	SinkOption
}

type sourceConfig struct {
	brokers        []string
	clientOpts     []kgo.Opt
	group          string
	instanceID     string
	topics         []string
	partitions     map[string]map[int32]kgo.Offset
	eventTime      any // func(T) time.Time
	outOfOrderness time.Duration
	idleTimeout    time.Duration
	exitWhenIdle   time.Duration
	policy         CommitPolicy
	maxPoll        int
	clock          stream.Clock
	listener       PartitionListener
	carry          bool // CarryWatermarks
}

type sinkConfig struct {
	brokers      []string
	clientOpts   []kgo.Opt
	client       *kgo.Client
	key          any // func(T) []byte
	headers      any // func(T) []kgo.RecordHeader
	produceTime  bool
	closeTimeout time.Duration
	txnTimeout   time.Duration
	carry        bool // CarryWatermarks
}

type sourceOptionFunc func(*sourceConfig)

func (f sourceOptionFunc) applySource(c *sourceConfig) { f(c) }

type sinkOptionFunc func(*sinkConfig)

func (f sinkOptionFunc) applySink(c *sinkConfig) { f(c) }

type bothOption struct {
	src  func(*sourceConfig)
	sink func(*sinkConfig)
}

func (o bothOption) applySource(c *sourceConfig) { o.src(c) }
func (o bothOption) applySink(c *sinkConfig)     { o.sink(c) }

// Brokers sets the seed brokers ("host:port") of the client the source or
// sink creates.
func Brokers(addrs ...string) Option {
	return bothOption{
		src:  func(c *sourceConfig) { c.brokers = append(c.brokers, addrs...) },
		sink: func(c *sinkConfig) { c.brokers = append(c.brokers, addrs...) },
	}
}

// ClientOptions adds options to the client the source or sink creates.
//
// They may pass through: connection and security (kgo.Dialer, DialTLSConfig,
// SASL, ClientID, SoftwareNameAndVersion, RequestTimeoutOverhead, RetryBackoffFn,
// RequestRetries, MetadataMaxAge/MinAge, ConnIdleTimeout, BrokerMaxReadBytes),
// logging and hooks (WithLogger, WithHooks), for a source the fetch tuning
// (FetchMaxBytes, FetchMaxPartitionBytes, FetchMinBytes, FetchMaxWait:
// the source lowers it by default under a short [IdleTimeout] or
// [ExitWhenIdle]; FetchIsolationLevel: the default reads uncommitted, pass
// kgo.FetchIsolationLevel(kgo.ReadCommitted()) to read only committed
// transactional records) and group timing (SessionTimeout,
// RebalanceTimeout, HeartbeatInterval, Balancers), and for a sink the
// producer tuning (ProducerBatchMaxBytes, ProducerLinger, ProducerBatchCompression,
// RequiredAcks, MaxBufferedRecords, RecordPartitioner, ProduceRequestTimeout).
//
// They must not be given here, because the source or sink sets them and
// relies on them: SeedBrokers ([Brokers]), ConsumerGroup, ConsumeTopics,
// ConsumePartitions, ConsumeRegex ([ConsumerGroup], [Partitions]),
// InstanceID ([InstanceID]), DisableAutoCommit, AutoCommitMarks,
// BlockRebalanceOnPoll, OnPartitionsAssigned/Revoked/Lost,
// AdjustFetchOffsetsFn (the commit policy and checkpoints), and for a
// transactional sink TransactionalID and TransactionTimeout
// ([NewTransactionalSink]).
func ClientOptions(opts ...kgo.Opt) Option {
	return bothOption{
		src:  func(c *sourceConfig) { c.clientOpts = append(c.clientOpts, opts...) },
		sink: func(c *sinkConfig) { c.clientOpts = append(c.clientOpts, opts...) },
	}
}

// InstanceID makes a consumer-group source a static member of its group
// (KIP-345, Kafka 2.3+): the group knows the member by id, so a worker
// restarted with the same id (its host name, a pod's ordinal) takes its
// partitions back at once, without a rebalance and without waiting for the
// dead member's session timeout. A static member leaves the group only when
// its session times out, not when it closes: give each worker its own
// stable id, and pick the session timeout (kgo.SessionTimeout through
// [ClientOptions]) longer than a restart takes.
func InstanceID(id string) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.instanceID = id })
}

// ConsumerGroup makes the source consume topics as a member of group: the
// group's coordinator shares the topics' partitions among its members, and
// the source commits its positions to the group (see [CommitPolicy]).
func ConsumerGroup(group string, topics ...string) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		c.group = group
		c.topics = append(c.topics, topics...)
	})
}

// Partitions makes the source consume exactly these partitions of topic,
// each from its start offset (kgo.NewOffset().AtStart(), .At(n), ...),
// without a consumer group: nothing is committed.
func Partitions(topic string, start map[int32]kgo.Offset) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if c.partitions == nil {
			c.partitions = map[string]map[int32]kgo.Offset{}
		}
		m := c.partitions[topic]
		if m == nil {
			m = map[int32]kgo.Offset{}
			c.partitions[topic] = m
		}
		for p, o := range start {
			m[p] = o
		}
	})
}

// EventTime takes each record's event time from its decoded value instead
// of the Kafka record's timestamp (the default). T must be the source's
// value type, or Run fails with [stream.ErrInvalid].
func EventTime[T any](fn func(T) time.Time) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.eventTime = fn })
}

// OutOfOrderness sets the bounded out-of-orderness d of each partition: after
// a record at time t on a partition, that partition's watermark is at least
// t - d - 1ns (default 0: records within a partition are in time order).
// With [CarryWatermarks] the watermarks come from the records' headers and d
// does not apply.
func OutOfOrderness(d time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if d > 0 {
			c.outOfOrderness = d
		}
	})
}

// IdleTimeout sets how long a partition may deliver no records before it is
// left out of the minimum watermark (default 10s; 0 disables it, so a silent
// partition holds the watermark back for ever). It rejoins with its next
// record.
//
// A broker holds a fetch for up to the client's FetchMaxWait (kgo's default
// 5s) while the partitions in it have no new records, and a partition the
// client starts consuming meanwhile waits for the next fetch. So that no
// partition looks idle only because of that wait, the source lowers
// FetchMaxWait to a quarter of the shorter of IdleTimeout and
// [ExitWhenIdle] when that is under 5s (a kgo.FetchMaxWait given in
// [ClientOptions] takes precedence).
func IdleTimeout(d time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if d >= 0 {
			c.idleTimeout = d
		}
	})
}

// ExitWhenIdle makes the source end (Run returns nil, so the pipeline sends
// its end-of-input watermark and finishes) once no partition has delivered a
// record for d. By default the source runs until its context is cancelled.
// The client's fetches wait at most d/4 at the broker (see [IdleTimeout]),
// so records already in the topic are never mistaken for the end.
func ExitWhenIdle(d time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if d > 0 {
			c.exitWhenIdle = d
		}
	})
}

// Commit sets the commit policy of a consumer-group source (default
// CommitInterval(5 * time.Second); use [CommitOnCheckpoint] in a pipeline
// with checkpoints).
func Commit(p CommitPolicy) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if p != nil {
			c.policy = p
		}
	})
}

// MaxPollRecords bounds how many records the source takes from the client
// at a time (default 5000). While the source hands them downstream the group
// cannot rebalance, so a slow pipeline wants a smaller number.
func MaxPollRecords(n int) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if n > 0 {
			c.maxPoll = n
		}
	})
}

// Clock sets the clock of the idle timeouts and of the commit interval. By
// default the source uses the pipeline's clock.
func Clock(clk stream.Clock) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.clock = clk })
}

// Client makes the sink produce through cl, which the caller owns: the sink
// does not close it, and its Flush waits for every record buffered in cl.
func Client(cl *kgo.Client) SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) { c.client = cl })
}

// Key sets each produced record's key from its value; Kafka's default
// partitioner then sends equal keys to the same partition. T must be the
// sink's value type, or the first Write fails with [stream.ErrInvalid].
func Key[T any](fn func(T) []byte) SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) { c.key = fn })
}

// Headers sets each produced record's headers from its value. T must be
// the sink's value type, or the first Write fails with [stream.ErrInvalid].
func Headers[T any](fn func(T) []kgo.RecordHeader) SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) { c.headers = fn })
}

// ProduceTime makes produced records carry the time they were produced
// instead of their event time (the default).
func ProduceTime() SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) { c.produceTime = true })
}

// TransactionTimeout sets how long a [TransactionalSink]'s transaction may
// stay open before the broker aborts it (default 1 minute; the broker caps it
// at its transaction.max.timeout.ms, 15 minutes by default). A transaction
// lasts from one checkpoint barrier to the commit after the next one, so
// keep it well above twice the checkpoint interval.
func TransactionTimeout(d time.Duration) SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) {
		if d > 0 {
			c.txnTimeout = d
		}
	})
}

// CloseTimeout bounds how long Close waits for the acks of records still in
// flight (default 30s).
func CloseTimeout(d time.Duration) SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) {
		if d > 0 {
			c.closeTimeout = d
		}
	})
}

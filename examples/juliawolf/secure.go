package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaPasswordEnv names the environment variable holding the SASL
// password: a password on the command line would show in ps and in shell
// history.
const kafkaPasswordEnv = "JULIAWOLF_KAFKA_PASSWORD"

// kafkaSecurity holds the flags that reach a Kafka cluster with TLS and/or
// SASL; produce, worker and report share them.
type kafkaSecurity struct {
	tls                         bool
	caFile, certFile, keyFile   string
	serverName                  string
	saslMechanism, saslUsername string
}

func (k *kafkaSecurity) register(fs *flag.FlagSet) {
	fs.BoolVar(&k.tls, "kafka-tls", false, "connect to Kafka over TLS (implied by -kafka-ca, -kafka-cert)")
	fs.StringVar(&k.caFile, "kafka-ca", "", "PEM `file` of the CA certificates that sign the brokers' (default: the system's)")
	fs.StringVar(&k.certFile, "kafka-cert", "", "PEM client certificate `file` for mutual TLS (with -kafka-key)")
	fs.StringVar(&k.keyFile, "kafka-key", "", "PEM client key `file` for mutual TLS (with -kafka-cert)")
	fs.StringVar(&k.serverName, "kafka-server-name", "", "TLS server `name` to verify (default: the broker's host)")
	fs.StringVar(&k.saslMechanism, "kafka-sasl", "", "SASL `mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (password in $"+kafkaPasswordEnv+")")
	fs.StringVar(&k.saslUsername, "kafka-user", "", "SASL user `name` (with -kafka-sasl)")
}

// options returns the kgo options the flags ask for; a file that cannot be
// read, a bad combination or a missing password is a usage error, found
// before anything connects.
func (k *kafkaSecurity) options() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if k.tls || k.caFile != "" || k.certFile != "" || k.keyFile != "" || k.serverName != "" {
		cfg, err := k.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	mech := strings.ToUpper(k.saslMechanism)
	if mech == "" {
		if k.saslUsername != "" {
			return nil, usagef("-kafka-user needs -kafka-sasl (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return opts, nil
	}
	if k.saslUsername == "" {
		return nil, usagef("-kafka-sasl %s needs -kafka-user", k.saslMechanism)
	}
	pass, ok := os.LookupEnv(kafkaPasswordEnv)
	if !ok {
		return nil, usagef("-kafka-sasl %s: set the password in $%s", k.saslMechanism, kafkaPasswordEnv)
	}
	switch mech {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: k.saslUsername, Pass: pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.saslUsername, Pass: pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.saslUsername, Pass: pass}.AsSha512Mechanism()))
	default:
		return nil, usagef("-kafka-sasl %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.saslMechanism)
	}
	return opts, nil
}

func (k *kafkaSecurity) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.serverName}
	if k.caFile != "" {
		pem, err := os.ReadFile(k.caFile)
		if err != nil {
			return nil, usagef("-kafka-ca: %v", errors.Unwrap(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("-kafka-ca %s: no PEM certificate in it", k.caFile)
		}
		cfg.RootCAs = pool
	}
	if (k.certFile == "") != (k.keyFile == "") {
		return nil, usagef("-kafka-cert and -kafka-key go together")
	}
	if k.certFile != "" {
		cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
		if err != nil {
			return nil, usagef("-kafka-cert/-kafka-key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// redisOptions reads a -redis value: a plain host:port, or a URL
// (redis://user:password@host:port/db, rediss:// for TLS) as go-redis
// parses it.
func redisOptions(v string) (*redis.Options, error) {
	if !strings.Contains(v, "://") {
		return &redis.Options{Addr: v}, nil
	}
	opt, err := redis.ParseURL(v)
	if err != nil {
		// The URL may hold a password: the message names only the scheme.
		return nil, usagef("-redis: not a host:port nor a valid redis:// or rediss:// URL (%s)", redactURLError(err))
	}
	return opt, nil
}

// redactURLError keeps go-redis's reason, whose text never repeats the
// URL's user information... except url.Parse's, which quotes the input.
func redactURLError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, `"`); i >= 0 {
		return strings.TrimSpace(msg[:i]) + " (URL withheld)"
	}
	return msg
}

// redisName is how messages name a Redis server: its address, never the
// URL with its password.
func redisName(opt *redis.Options) string { return opt.Addr }

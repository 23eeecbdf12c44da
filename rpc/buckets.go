package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxReplicas caps the replica count of orch's buckets.
const MaxReplicas = 3

// BucketReplicas is the replica count orch gives the buckets it creates
// when connected through nc: one per broker of the cluster nc is connected
// to (the servers the connection knows of), capped at MaxReplicas; a
// single broker gives 1. EnsureBucket lowers it when the cluster cannot
// place that many (brokers without JetStream).
func BucketReplicas(nc *nats.Conn) int {
	if nc == nil || nc.ConnectedClusterName() == "" {
		return 1
	}
	return max(1, min(MaxReplicas, len(nc.Servers())))
}

// EnsureBucket opens the key-value bucket cfg names, creating it when it
// does not exist with file storage and BucketReplicas(nc) replicas (cfg's
// Storage and Replicas are ignored). An existing bucket is kept: if it has
// fewer replicas than the cluster now allows they are raised, and a memory
// bucket made by an older orch stays a memory bucket (JetStream cannot
// change a stream's storage in place, and deleting it would drop held
// locks or registrations) until the next broker restart drops it, after
// which it is created anew on file.
func EnsureBucket(ctx context.Context, nc *nats.Conn, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening jetstream: %w", err)
	}
	want := BucketReplicas(nc)
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil {
		return kv, raiseReplicas(ctx, js, "KV_"+kv.Bucket(), want)
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("opening bucket %s: %w", cfg.Bucket, err)
	}
	cfg.Storage = jetstream.FileStorage
	for r := want; ; r-- {
		cfg.Replicas = r
		kv, err = js.CreateKeyValue(ctx, cfg)
		switch {
		case errors.Is(err, jetstream.ErrBucketExists):
			// Another process created it meanwhile.
			return js.KeyValue(ctx, cfg.Bucket)
		case err != nil && r > 1 && tooFewPeers(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("creating bucket %s: %w", cfg.Bucket, err)
		}
		return kv, nil
	}
}

// EnsureStream opens the stream cfg names, creating it when it does not
// exist with file storage and BucketReplicas(nc) replicas (cfg's Storage
// and Replicas are ignored), as EnsureBucket does for buckets: an
// existing stream is kept, its replicas raised when the cluster now allows
// more.
func EnsureStream(ctx context.Context, nc *nats.Conn, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening jetstream: %w", err)
	}
	want := BucketReplicas(nc)
	st, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return st, raiseReplicas(ctx, js, cfg.Name, want)
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("opening stream %s: %w", cfg.Name, err)
	}
	cfg.Storage = jetstream.FileStorage
	for r := want; ; r-- {
		cfg.Replicas = r
		st, err = js.CreateStream(ctx, cfg)
		switch {
		case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
			return js.Stream(ctx, cfg.Name) // another process created it meanwhile
		case err != nil && r > 1 && tooFewPeers(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("creating stream %s: %w", cfg.Name, err)
		}
		return st, nil
	}
}

// raiseReplicas raises the replicas of an existing stream to want; a
// cluster that cannot place them leaves the stream as it is.
func raiseReplicas(ctx context.Context, js jetstream.JetStream, stream string, want int) error {
	if want <= 1 {
		return nil
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream, err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Replicas >= want {
		return nil
	}
	cfg.Replicas = want
	if _, err := js.UpdateStream(ctx, cfg); err != nil && !tooFewPeers(err) {
		return fmt.Errorf("raising the replicas of stream %s to %d: %w", stream, want, err)
	}
	return nil
}

// tooFewPeers reports whether err says the cluster cannot place the
// replicas asked for.
func tooFewPeers(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	// 10023 insufficient resources, 10074 replicas > 1 not supported in
	// non-clustered mode.
	return apiErr.ErrorCode == 10023 || apiErr.ErrorCode == 10074 ||
		strings.Contains(apiErr.Description, "insufficient resources")
}

package rpc

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
)

// signingPrefix is prepended to the signed bytes so that a signature over an
// orch request can never be mistaken for one over anything else.
const signingPrefix = "orch-rpc-v1\n"

// NewRequestID returns a random 128-bit request ID in hex.
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("rpc: reading random bytes: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// SigningBytes returns the bytes a request's signature covers: a fixed
// prefix followed by the request's JSON encoding with an empty Signature.
// encoding/json writes struct fields in declaration order and compacts Data,
// so the encoding is deterministic and survives a decode/encode round trip
// (Time must be UTC, as Sign makes it).
func SigningBytes(req *Request) ([]byte, error) {
	c := *req
	c.Signature = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encoding request for signing: %w", err)
	}
	return append([]byte(signingPrefix), b...), nil
}

// Sign sets req.SenderKey to key's public key and req.Signature to the
// signature over SigningBytes. key must hold a private seed.
func Sign(req *Request, key nkeys.KeyPair) error {
	pub, err := key.PublicKey()
	if err != nil {
		return fmt.Errorf("reading public key: %w", err)
	}
	req.SenderKey = pub
	req.Time = req.Time.UTC()
	b, err := SigningBytes(req)
	if err != nil {
		return err
	}
	sig, err := key.Sign(b)
	if err != nil {
		return fmt.Errorf("signing request: %w", err)
	}
	req.Signature = base64.RawURLEncoding.EncodeToString(sig)
	return nil
}

// requestSigner signs requests with a key derived once (see signReply).
type requestSigner struct {
	pub  string
	priv ed25519.PrivateKey
}

func newRequestSigner(key nkeys.KeyPair) (*requestSigner, error) {
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("reading public key: %w", err)
	}
	priv, err := privateKey(key)
	if err != nil {
		return nil, err
	}
	return &requestSigner{pub: pub, priv: priv}, nil
}

// sign is Sign with the derived key.
func (s *requestSigner) sign(req *Request) error {
	req.SenderKey = s.pub
	req.Time = req.Time.UTC()
	b, err := SigningBytes(req)
	if err != nil {
		return err
	}
	req.Signature = base64.RawURLEncoding.EncodeToString(ed25519.Sign(s.priv, b))
	return nil
}

// Errors returned by Verify.
var (
	ErrUnsigned     = errors.New("request is not signed")
	ErrBadSignature = errors.New("request signature does not verify")
)

// Verify checks that req carries a valid signature by req.SenderKey, which
// must be an nkey user public key. It says nothing about whether that key is
// trusted: that is the node's policy.
func Verify(req *Request) error {
	if req.Signature == "" || req.SenderKey == "" {
		return ErrUnsigned
	}
	if !nkeys.IsValidPublicUserKey(req.SenderKey) {
		return fmt.Errorf("sender key %q is not an nkey user public key", req.SenderKey)
	}
	sig, err := base64.RawURLEncoding.DecodeString(req.Signature)
	if err != nil {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	pub, err := nkeys.FromPublicKey(req.SenderKey)
	if err != nil {
		return fmt.Errorf("reading sender key: %w", err)
	}
	b, err := SigningBytes(req)
	if err != nil {
		return err
	}
	if err := pub.Verify(b, sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

// LoadKey reads an nkey seed file (as written by orch keygen). Lines that
// are empty or start with # or - are ignored, so decorated seed files work.
func LoadKey(path string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-") {
			continue
		}
		kp, err := nkeys.FromSeed([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("key file %s: not an nkey seed: %w", path, err)
		}
		return kp, nil
	}
	return nil, fmt.Errorf("key file %s holds no nkey seed", path)
}

// replySigningPrefix is prepended to a reply's signed bytes; it differs
// from signingPrefix so that a reply signature can never pass for a
// request's, nor the other way round.
const replySigningPrefix = "orch-reply-v1\n"

// ReplySigningBytes returns the bytes a reply's signature covers: a fixed
// prefix, then every field but the signature, each written as its length
// in decimal, ':', its bytes and '\n' (so that no two replies share the
// bytes): version, request id, identity, status, message, changed,
// elapsed (ns) and data as it travels (json.Unmarshal keeps a
// json.RawMessage verbatim, so the client sees the node's bytes).
func ReplySigningBytes(r *fleet.Reply) []byte {
	b := make([]byte, 0, len(replySigningPrefix)+len(r.RequestID)+len(r.Identity)+len(r.Message)+len(r.Data)+64)
	b = append(b, replySigningPrefix...)
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(append(append(b, ':'), s...), '\n')
	}
	field(strconv.Itoa(r.Version))
	field(r.RequestID)
	field(r.Identity)
	field(string(r.Status))
	field(r.Message)
	field(strconv.FormatBool(r.Changed))
	field(strconv.FormatInt(int64(r.Elapsed), 10))
	field(string(r.Data))
	return b
}

// SignReply sets r.Signature to key's signature over ReplySigningBytes.
func SignReply(r *fleet.Reply, key nkeys.KeyPair) error {
	priv, err := privateKey(key)
	if err != nil {
		return err
	}
	signReply(r, priv)
	return nil
}

// signReply is SignReply with the key's ed25519 private key. (nkeys
// derives the private key from the seed at every Sign, which costs about
// as much as the signature: a node derives it once.)
func signReply(r *fleet.Reply, priv ed25519.PrivateKey) {
	r.Signature = base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, ReplySigningBytes(r)))
}

// privateKey returns the ed25519 private key of an nkey with a seed.
func privateKey(key nkeys.KeyPair) (ed25519.PrivateKey, error) {
	seed, err := key.Seed()
	if err != nil {
		return nil, fmt.Errorf("reading the key's seed: %w", err)
	}
	_, raw, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("decoding the key's seed: %w", err)
	}
	return ed25519.NewKeyFromSeed(raw), nil
}

// Errors of VerifyReply.
var (
	ErrReplyUnsigned     = errors.New("reply is not signed")
	ErrReplyBadSignature = errors.New("reply signature does not verify against the node's key")
)

// VerifyReply checks r's signature against key, the node's public key.
func VerifyReply(r *fleet.Reply, key nkeys.KeyPair) error {
	if r.Signature == "" {
		return ErrReplyUnsigned
	}
	sig, err := base64.RawURLEncoding.DecodeString(r.Signature)
	if err != nil {
		return fmt.Errorf("%w: malformed signature", ErrReplyBadSignature)
	}
	if err := key.Verify(ReplySigningBytes(r), sig); err != nil {
		return ErrReplyBadSignature
	}
	return nil
}

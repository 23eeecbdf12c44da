package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orch-fleet/orch/fleet"
)

// Limits bound what a node accepts of a request before it knows who sent
// it; they are checked first, before anything costly. Filters are also
// bounded by fleet.MaxFilterEntries and fleet.MaxPatternLength.
type Limits struct {
	MaxRequestSize int // bytes of the request message; 0 = 256 KiB
	MaxInputFields int // top-level fields of the input object; 0 = 256
	MaxNameLength  int // bytes of the sender name; 0 = 256
}

// Default limits (Limits' zero values).
const (
	DefaultMaxRequestSize = 256 << 10
	DefaultMaxInputFields = 256
	DefaultMaxNameLength  = 256
	maxIDLength           = 128 // bytes of a request id
	maxAgentLength        = 64  // bytes of an agent or action name
)

func (l Limits) withDefaults() Limits {
	if l.MaxRequestSize <= 0 {
		l.MaxRequestSize = DefaultMaxRequestSize
	}
	if l.MaxInputFields <= 0 {
		l.MaxInputFields = DefaultMaxInputFields
	}
	if l.MaxNameLength <= 0 {
		l.MaxNameLength = DefaultMaxNameLength
	}
	return l
}

// Reasons of the rejections made before a request is authenticated
// (AuditEntry.Reason). Such rejections are audited without the input and
// at most ServerOptions.RejectLogRate times a second per reason.
const (
	RejectTooLarge     = "too_large"     // the message exceeds MaxRequestSize
	RejectMalformed    = "malformed"     // not a JSON request envelope
	RejectShape        = "shape"         // a field beyond its limit or of a bad form
	RejectInvalid      = "invalid"       // wrong version or collective
	RejectUntrusted    = "untrusted"     // the sender key is not in the trust list
	RejectUnsigned     = "unsigned"      // no signature
	RejectBadSignature = "bad_signature" // the signature does not verify
	RejectTime         = "time"          // ttl out of bounds, future-dated, expired or dated before the node started
	RejectReplay       = "replay"        // the id was seen within its validity
	RejectReplayGuard  = "replay_guard"  // the replay guard failed: refused, to be safe
)

// rejection is a request refused before it was authenticated.
type rejection struct {
	status fleet.Status
	reason string
	msg    string
}

func (r *rejection) Error() string { return r.msg }

func reject(status fleet.Status, reason, format string, args ...any) *rejection {
	return &rejection{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// errSilent ends a broadcast or discovery request the node is not part
// of: no reply, no audit.
var errSilent = errors.New("not selected by the filter")

// admit runs the checks made before a request is authenticated, in this
// order: size, JSON, shape, version and collective, (broadcast and
// discovery) the filter without regular expressions, trust list,
// signature, time, replay. None of them compiles or evaluates a regular
// expression or decodes the input. It returns the request, a *rejection,
// or errSilent.
func (s *Server) admit(m *nats.Msg, kind msgKind, now time.Time) (*Request, error) {
	if n := len(m.Data); n > s.o.Limits.MaxRequestSize {
		return &Request{}, reject(fleet.StatusInvalidInput, RejectTooLarge, "request of %d bytes exceeds the limit of %d", n, s.o.Limits.MaxRequestSize)
	}
	req := &Request{}
	if err := json.Unmarshal(m.Data, req); err != nil {
		return &Request{}, reject(fleet.StatusInvalidInput, RejectMalformed, "malformed request: %v", err)
	}
	if err := s.checkShape(req); err != nil {
		return req, err
	}
	if req.Version != ProtocolVersion {
		return req, reject(fleet.StatusInvalidInput, RejectInvalid, "protocol version %d not supported (this node speaks %d)", req.Version, ProtocolVersion)
	}
	if req.Collective != s.o.Collective {
		return req, reject(fleet.StatusInvalidInput, RejectInvalid, "request is for collective %q, this node is in %q", req.Collective, s.o.Collective)
	}
	if kind == kindBroadcast || kind == kindDiscover {
		// Nodes the filter rules out stay silent, decided without
		// regular expressions: the full filter waits for authentication.
		info := s.o.Info()
		if !req.Filter.Prefilter(&info) {
			return req, errSilent
		}
	}
	if s.o.Trusted != nil && !s.o.Trusted(req.SenderKey) {
		return req, reject(fleet.StatusUnauthorised, RejectUntrusted, "caller key %s is not trusted by this node", req.SenderKey)
	}
	if err := Verify(req); err != nil {
		reason := RejectBadSignature
		if errors.Is(err, ErrUnsigned) {
			reason = RejectUnsigned
		}
		return req, reject(fleet.StatusUnauthorised, reason, "%v", err)
	}
	if err := s.checkTime(req, now); err != nil {
		return req, err
	}
	if kind == kindDiscover {
		req.Agent, req.Action = DiscoveryAgent, "discover"
	}
	fresh, err := s.o.Replay.Add(req.ID, req.Time.Add(req.TTL).Add(s.o.MaxSkew))
	if err != nil {
		s.o.Logger.Error("replay guard", "err", err)
		return req, reject(fleet.StatusInternalError, RejectReplayGuard, "the node cannot record the request id (replay guard: %v)", err)
	}
	if !fresh {
		return req, reject(fleet.StatusUnauthorised, RejectReplay, "request %s was already received (replay)", req.ID)
	}
	return req, nil
}

// checkShape checks the request's fields against the limits, cheaply.
func (s *Server) checkShape(req *Request) error {
	l := s.o.Limits
	switch {
	case req.ID == "" || len(req.ID) > maxIDLength || !isToken(req.ID):
		return reject(fleet.StatusInvalidInput, RejectShape, "request id must be 1-%d letters, digits, '-', '_', '.' or ':'", maxIDLength)
	case len(req.SenderName) > l.MaxNameLength:
		return reject(fleet.StatusInvalidInput, RejectShape, "sender name longer than %d bytes", l.MaxNameLength)
	case len(req.Agent) > maxAgentLength || len(req.Action) > maxAgentLength || !isToken(req.Agent) || !isToken(req.Action):
		return reject(fleet.StatusInvalidInput, RejectShape, "agent and action names must be at most %d letters, digits, '-', '_', '.' or ':'", maxAgentLength)
	case len(req.SenderKey) > 64:
		return reject(fleet.StatusInvalidInput, RejectShape, "sender key longer than 64 bytes")
	}
	if err := req.Filter.CheckShape(); err != nil {
		return reject(fleet.StatusInvalidInput, RejectShape, "%v", err)
	}
	if n := countTopFields(req.Data); n > l.MaxInputFields {
		return reject(fleet.StatusInvalidInput, RejectShape, "input has %d fields, more than %d", n, l.MaxInputFields)
	}
	return nil
}

// checkTime checks the request's validity: ttl in (0, MaxTTL], not dated
// in the future beyond MaxSkew, not expired, not dated before NotBefore.
func (s *Server) checkTime(req *Request, now time.Time) error {
	if req.TTL <= 0 || req.TTL > s.o.MaxTTL {
		return reject(fleet.StatusUnauthorised, RejectTime, "request ttl %s outside (0, %s]", req.TTL, s.o.MaxTTL)
	}
	if req.Time.After(now.Add(s.o.MaxSkew)) {
		return reject(fleet.StatusUnauthorised, RejectTime, "request is dated %s in the future (clock skew?)", req.Time.Sub(now).Round(time.Millisecond))
	}
	if expires := req.Time.Add(req.TTL); now.After(expires) {
		return reject(fleet.StatusUnauthorised, RejectTime, "request expired %s ago (ttl %s)", now.Sub(expires).Round(time.Millisecond), req.TTL)
	}
	if req.Time.Before(s.o.NotBefore) {
		return reject(fleet.StatusUnauthorised, RejectTime, "request is dated %s, before this agent started (%s): refused, as a replay from before a restart could be",
			req.Time.Format(time.RFC3339Nano), s.o.NotBefore.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// authorize runs the checks made once a request is authenticated: the
// policy, then the filter with its regular expressions (compiled once,
// cached). A broadcast or discovery request the filter rules out is
// silent (errSilent), even when the policy refuses it.
func (s *Server) authorize(req *Request, kind msgKind) error {
	var denied error
	if s.o.Authorize != nil {
		if err := s.o.Authorize(req); err != nil {
			var se *fleet.StatusError
			if !errors.As(err, &se) {
				se = &fleet.StatusError{Status: fleet.StatusUnauthorised, Message: err.Error()}
			}
			denied = se
		}
	}
	if req.Filter.Empty() {
		return denied
	}
	info := s.o.Info()
	selected := req.Filter.MatchCached(&info, s.o.Regexps)
	switch {
	case kind == kindDirect && denied == nil && !selected:
		return fleet.Errorf(fleet.StatusUnauthorised, "request was not addressed to %s", s.o.Identity)
	case kind != kindDirect && !selected:
		return errSilent
	}
	return denied
}

// isToken reports whether s holds only letters, digits, '-', '_', '.'
// and ':'.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '-' && c != '_' && c != '.' && c != ':' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// countTopFields counts the members of a JSON object without decoding it
// (the colons at depth one outside strings); b is valid JSON, as the
// envelope decoded.
func countTopFields(b []byte) int {
	depth, n := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}

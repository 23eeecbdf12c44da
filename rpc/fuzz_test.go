package rpc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/orch-fleet/orch/fleet"
)

// FuzzRequestEnvelope: any bytes on a node's subject decode or are refused,
// never a panic; Verify never panics; and a request that verifies still
// verifies after an encode/decode round trip (what a node receives is what
// was signed), while changing any signed field breaks it.
func FuzzRequestEnvelope(f *testing.F) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		f.Fatal(err)
	}
	req := &Request{Version: ProtocolVersion, ID: NewRequestID(), SenderName: "fuzz", Collective: DefaultCollective,
		Agent: "rpcutil", Action: "ping", Data: json.RawMessage(`{"a":[1,2,{"b":null}]}`),
		Filter: &fleet.Filter{Facts: []fleet.FactFilter{{Fact: "cluster", Op: "==", Value: "alfa"}}, Identities: []string{"/web[0-9]+/"}},
		Time:   time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), TTL: time.Minute}
	if err := Sign(req, kp); err != nil {
		f.Fatal(err)
	}
	signed, _ := json.Marshal(req)
	f.Add(signed)
	f.Add([]byte(`{"v":1,"id":"x","sig":"!!"}`))
	f.Add([]byte(`{"v":1,"sender_key":"UABC","sig":"AAAA","data":{"x":"\u0000"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		if r.Filter != nil {
			_ = r.Filter.Validate()
		}
		if Verify(&r) != nil {
			return
		}
		again, err := json.Marshal(&r)
		if err != nil {
			t.Fatalf("a verified request does not re-encode: %v", err)
		}
		var r2 Request
		if err := json.Unmarshal(again, &r2); err != nil {
			t.Fatalf("a verified request does not decode after re-encoding: %v", err)
		}
		if err := Verify(&r2); err != nil {
			t.Fatalf("a verified request fails verification after a round trip: %v\n%s", err, again)
		}
		r2.Action += "x"
		if Verify(&r2) == nil {
			t.Fatalf("changing the action kept the signature valid:\n%s", again)
		}
	})
}

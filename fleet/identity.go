package fleet

import (
	"fmt"
	"strings"
)

// Limits of an identity: a host name as RFC 1123 defines it.
const (
	MaxIdentityLength = 253 // bytes of the whole name
	maxLabelLength    = 63  // bytes of one dot-separated label
)

// IdentityRule is the rule ValidateIdentity enforces, for messages.
const IdentityRule = "an identity is a host name (RFC 1123): labels of ASCII letters (any case), digits and '-', " +
	"each 1-63 characters, not starting or ending with '-', separated by single dots; at most 253 characters"

// ValidateIdentity checks that id is a host name as RFC 1123 defines it:
// dot-separated labels of ASCII letters, digits and hyphens, 1-63 bytes
// each, not starting or ending with a hyphen, 253 bytes at most ("web1",
// "web.3", "db1.example.com", "Web-1"). Such a name never contains '_',
// so EncodeIdentity can use it as the escape of '.'.
func ValidateIdentity(id string) error {
	if id == "" {
		return fmt.Errorf("identity is empty: %s", IdentityRule)
	}
	if len(id) > MaxIdentityLength {
		return fmt.Errorf("identity %.40q… is %d characters long: %s", id, len(id), IdentityRule)
	}
	for _, label := range strings.Split(id, ".") {
		if err := validateLabel(label); err != nil {
			return fmt.Errorf("identity %q: %w: %s", id, err, IdentityRule)
		}
	}
	return nil
}

// validateLabel checks one label of a host name.
func validateLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("empty label (a leading, trailing or doubled dot)")
	case len(l) > maxLabelLength:
		return fmt.Errorf("label %q is longer than %d characters", l, maxLabelLength)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c != '-' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return fmt.Errorf("label %q holds %q", l, []rune(l[i:])[0])
		}
	}
	return nil
}

// EncodeIdentity turns a valid identity into one NATS subject token and
// JetStream key-value key: each '.' (a subject token separator) becomes
// '_', which no valid identity contains, so the encoding is reversible
// (DecodeIdentity) and two identities never share a token:
// "db1.example.com" → "db1_example_com". Identities without dots are
// unchanged.
func EncodeIdentity(id string) string { return strings.ReplaceAll(id, ".", "_") }

// DecodeIdentity reverses EncodeIdentity.
func DecodeIdentity(token string) string { return strings.ReplaceAll(token, "_", ".") }

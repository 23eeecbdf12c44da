package sysfacts

import (
	"encoding/json"
	"strings"
)

// Merge layers facts maps: each layer's values override the earlier
// layers'. Nested maps are merged key by key (a layer setting os.custom
// keeps os.family); any other value replaces what was there. The result
// is a new map: the layers are neither modified nor aliased, except for
// leaf values such as lists, which callers treat as read-only.
func Merge(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, l := range layers {
		mergeInto(out, l)
	}
	return out
}

// mergeInto merges src into dst; every map held by dst was made by
// mergeInto, so it may be written.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if !ok {
			dst[k] = v
			continue
		}
		have, ok := dst[k].(map[string]any)
		if !ok {
			have = map[string]any{}
			dst[k] = have
		}
		mergeInto(have, sub)
	}
}

// normalize round-trips v through JSON so that its values have the types
// JSON gives them (numbers as float64), as they have on the wire.
func normalize(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// setDotted sets value at a dotted name (app.version), creating the maps
// on the way; a non-map value in the way is replaced.
func setDotted(m map[string]any, name string, value any) {
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			m[name] = value
			return
		}
		sub, ok := m[name[:i]].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[name[:i]] = sub
		}
		m, name = sub, name[i+1:]
	}
}

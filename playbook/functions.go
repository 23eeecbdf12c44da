package playbook

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// evalFuncs is the function table of playbook expressions.
type evalFuncs = map[string]function.Function

// functions returns the playbook functions: go-cty's standard library under
// Terraform's names, with length accepting strings as well.
func functions() evalFuncs {
	return evalFuncs{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc, "log": stdlib.LogFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc,
		"signum": stdlib.SignumFunc,
		"chomp":  stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": indentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc,
		"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
		"replace": stdlib.ReplaceFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"strlen":    stdlib.StrlenFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"index": stdlib.IndexFunc, "keys": stdlib.KeysFunc, "lookup": stdlib.LookupFunc,
		"merge": stdlib.MergeFunc, "range": stdlib.RangeFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setproduct": setProductFunc,
		"setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"formatdate": stdlib.FormatDateFunc, "timeadd": stdlib.TimeAddFunc,
		"length":    lengthFunc,
		"timestamp": timestampFunc,
		"tostring":  stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"can": tryfunc.CanFunc, "try": tryfunc.TryFunc,
	}
}

// FunctionNames lists the playbook functions, sorted (for the docs test).
func FunctionNames() []string {
	var names []string
	for n := range functions() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lengthFunc is length for strings (characters) and collections.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowDynamicType: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		if v.Type() == cty.String {
			if !v.IsKnown() {
				return cty.UnknownVal(cty.Number), nil
			}
			return stdlib.Strlen(v)
		}
		return stdlib.Length(v)
	},
})

// maxFunctionResult bounds the results of the functions whose result can
// be far larger than their arguments: elements for setproduct, bytes for
// indent. One call of either used to run the machine out of memory.
const maxFunctionResult = 1 << 20

// bounded is f refusing, before it runs, the calls for which size (of the
// known arguments) exceeds maxFunctionResult.
func bounded(f function.Function, what string, size func(args []cty.Value) float64) function.Function {
	return function.New(&function.Spec{
		Params: f.Params(), VarParam: f.VarParam(), Type: f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if n := size(args); n > maxFunctionResult {
				return cty.NilVal, fmt.Errorf("the result would hold %.0f %s, more than the limit of %d", n, what, maxFunctionResult)
			}
			return f.Call(args)
		},
	})
}

// setProductFunc is setproduct with its result's length bounded.
var setProductFunc = bounded(stdlib.SetProductFunc, "elements", func(args []cty.Value) float64 {
	n := 1.0
	for _, a := range args {
		if a.IsKnown() && !a.IsNull() && a.CanIterateElements() {
			n *= float64(a.LengthInt())
		}
	}
	return n
})

// indentFunc is indent with its result's size bounded.
var indentFunc = bounded(stdlib.IndentFunc, "bytes", func(args []cty.Value) float64 {
	spaces, str := args[0], args[1]
	if !spaces.IsKnown() || spaces.IsNull() || !str.IsKnown() || str.IsNull() {
		return 0
	}
	n, _ := spaces.AsBigFloat().Float64()
	s := str.AsString()
	return n*float64(strings.Count(s, "\n")+1) + float64(len(s))
})

// timestampFunc returns the compile time in RFC 3339, UTC.
var timestampFunc = function.New(&function.Spec{
	Type: function.StaticReturnType(cty.String),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.StringVal(nowUTC().Format("2006-01-02T15:04:05Z")), nil
	},
})

// ctyToGo converts a known value to plain JSON-shaped Go values: string,
// float64, bool, []any, map[string]any, nil.
func ctyToGo(v cty.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsKnown() {
		return nil, errors.New("value is not known yet")
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString(), nil
	case t == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f, nil
	case t == cty.Bool:
		return v.True(), nil
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			g, err := ctyToGo(ev)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		return out, nil
	case t.IsMapType() || t.IsObjectType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			g, err := ctyToGo(ev)
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = g
		}
		return out, nil
	}
	// Capsules and the like: through JSON, which says what is wrong.
	b, err := ctyjson.Marshal(v, t)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// goToCty converts JSON-shaped Go data (a reply's data) to a cty value.
func goToCty(data []byte) (cty.Value, error) {
	if len(data) == 0 {
		return cty.EmptyObjectVal, nil
	}
	t, err := ctyjson.ImpliedType(data)
	if err != nil {
		return cty.NilVal, err
	}
	return ctyjson.Unmarshal(data, t)
}

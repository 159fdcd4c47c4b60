package tokenizer

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// What one step of budget buys: bytes of a string, or items of a list, a
// hook may touch per step it charges.
const (
	bytesPerStep = 1024
	// itemBytes is what a list or dict item costs in memory (an interface
	// or *exec.Value and the value wrapping it).
	itemBytes = 64
	// iterationSteps is what one iteration of a for-loop costs: gonja
	// builds two contexts and a renderer per item, so an iteration takes
	// several times as long as another step.
	iterationSteps = 4
)

// errValue wraps err for gonja, which passes errors as values.
func errValue(err error) *exec.Value { return exec.AsValue(err) }

// globalContext holds the sandbox's hooks and the functions templates may
// call: gonja's, with range bounded (gonja's range also starts a goroutine
// that leaks when the loop stops early) and without lipsum and gettext.
func (p *chatProgram) globalContext() *exec.Context {
	g := map[string]any{
		hookIter: p.hookIter,
		hookOut:  p.hookOut,
		hookText: p.hookText,
		hookOp:   p.hookOp,
		hookCond: p.hookCond,
		hookPre:  p.hookPre,
		hookPost: p.hookPost,
		"range":  p.rangeFunc,
	}
	for _, name := range []string{"cycler", "dict", "joiner", "namespace"} {
		if f, ok := builtins.GlobalFunctions.Get(name); ok {
			g[name] = f
		}
	}
	return exec.NewContext(g).Update(builtins.GlobalVariables)
}

// hookIter charges a for-loop for every item it will iterate over.
func (p *chatProgram) hookIter(v *exec.Value) *exec.Value {
	c, err := p.measure(v, false)
	if err == nil {
		n := c.items
		if v.IsString() {
			n = int64(len(v.String())) // at most one item per byte
		}
		err = p.cur.charge(1+iterationSteps*n, 0, "a for-loop")
	}
	if err != nil {
		return errValue(err)
	}
	return v
}

// hookOut charges printing v.
func (p *chatProgram) hookOut(v *exec.Value) *exec.Value {
	c, err := p.measure(v, true)
	if err == nil {
		err = p.cur.charge(c.steps(), c.plain, "printing a value")
	}
	if err != nil {
		return errValue(err)
	}
	return v
}

// hookText prints text node k.
func (p *chatProgram) hookText(k *exec.Value) *exec.Value {
	t := p.texts[k.Integer()]
	if err := p.cur.charge(1+int64(len(t))/bytesPerStep, int64(len(t)), "printing text"); err != nil {
		return errValue(err)
	}
	return exec.AsSafeValue(t)
}

// hookCond charges testing v's truth: gonja counts a string's characters
// and a dict's keys; a list's length is at hand.
func (p *chatProgram) hookCond(v *exec.Value) *exec.Value {
	c, err := p.measure(v, false)
	if err == nil {
		if v.IsList() {
			c.items = 0
		}
		err = p.cur.charge(c.steps(), 0, "a condition")
	}
	if err != nil {
		return errValue(err)
	}
	return v
}

// hookPre charges indexing or slicing v, which for a string copies it
// into runes.
func (p *chatProgram) hookPre(v *exec.Value) *exec.Value {
	if v.IsString() {
		return p.pass(v, false, 4*int64(len(v.String())), "indexing a string")
	}
	if err := p.cur.charge(1, 0, "indexing"); err != nil {
		return errValue(err)
	}
	return v
}

// hookPost charges a value just built (a slice, a literal list or dict).
func (p *chatProgram) hookPost(v *exec.Value) *exec.Value {
	if err := p.cur.charge(1, shallowBytes(v), "building a value"); err != nil {
		return errValue(err)
	}
	return v
}

// pass charges reading v (and alloc bytes) and returns v.
func (p *chatProgram) pass(v *exec.Value, deep bool, alloc int64, what string) *exec.Value {
	c, err := p.measure(v, deep)
	if err == nil {
		err = p.cur.charge(c.steps(), alloc, what)
	}
	if err != nil {
		return errValue(err)
	}
	return v
}

// hookOp evaluates operator k on l and r, after charging for what it will
// touch and build: a ~ b, a + b and s * n make strings and lists as long as
// their operands together, comparisons and `in` read them.
func (p *chatProgram) hookOp(e *exec.Evaluator, va *exec.VarArgs) *exec.Value {
	if len(va.Args) != 3 {
		return errValue(fmt.Errorf("internal error: operator hook called with %d arguments", len(va.Args)))
	}
	op := p.ops[va.Args[0].Integer()]
	l, r := va.Args[1], va.Args[2]
	sb := p.cur
	what := "operator " + op.Operator.Token.Val
	// Only list + list leaves its operands' items unread; every other
	// operator may print or compare them, recursively.
	deep := !(op.Operator.Token.Type == tokens.Addition && l.IsList())
	lc, err := p.measure(l, deep)
	if err != nil {
		return errValue(err)
	}
	rc, err := p.measure(r, deep)
	if err != nil {
		return errValue(err)
	}
	var alloc int64
	switch op.Operator.Token.Type {
	case tokens.Tilde:
		alloc = lc.plain + rc.plain
	case tokens.Addition:
		switch {
		case l.IsList():
			alloc = (lc.items + rc.items) * itemBytes
		case l.IsFloat() || r.IsFloat():
		case l.IsString() || r.IsString():
			alloc = lc.plain + rc.plain
		}
	case tokens.Multiply:
		if l.IsString() && !r.IsFloat() {
			n := r.Integer()
			if n <= 0 {
				// Python's 'ab' * -1 is ''; strings.Repeat would panic.
				if err := sb.charge(1, 0, what); err != nil {
					return errValue(err)
				}
				return exec.AsValue("")
			}
			if lc.bytes > 0 && int64(n) > (budget.alloc+1)/lc.bytes {
				return errValue(sb.fail(limitError("%s: repeating %d bytes %d times is more than MaxTemplateAlloc (%d bytes)",
					what, lc.bytes, n, budget.alloc)))
			}
			alloc = lc.bytes * int64(n)
		}
	case tokens.Modulo:
		if !l.IsFloat() && !r.IsFloat() && r.Integer() == 0 {
			return errValue(fmt.Errorf("%s: integer modulo by zero", what))
		}
	}
	if err := sb.charge(lc.steps()+rc.steps()+alloc/bytesPerStep, alloc, what); err != nil {
		return errValue(err)
	}
	ev := &exec.Evaluator{
		Config: e.Config,
		Loader: e.Loader,
		Environment: &exec.Environment{
			Context:           exec.NewContext(map[string]any{hookLeft: l, hookRight: r}),
			Filters:           e.Environment.Filters,
			Tests:             e.Environment.Tests,
			ControlStructures: e.Environment.ControlStructures,
			Methods:           e.Environment.Methods,
		},
	}
	return ev.Eval(op)
}

// rangeFunc is range() with at most MaxTemplateRange numbers, as a list.
func (p *chatProgram) rangeFunc(va *exec.VarArgs) ([]int, error) {
	var start, stop, step int64 = 0, 0, 1
	ints := make([]int64, len(va.Args))
	for i, a := range va.Args {
		if !a.IsInteger() {
			return nil, fmt.Errorf("range: argument %d (%s) is not an integer", i+1, a.String())
		}
		ints[i] = int64(a.Integer())
	}
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return nil, fmt.Errorf("range: want [start, ]stop[, step], got %d arguments", len(ints))
	}
	if step == 0 {
		return nil, fmt.Errorf("range: step cannot be 0")
	}
	// The count in float64 cannot overflow; it only needs to be exact
	// below the limit.
	count := math.Ceil((float64(stop) - float64(start)) / float64(step))
	if count < 0 {
		count = 0
	}
	if count > MaxTemplateRange {
		return nil, p.cur.fail(limitError("range(%d, %d, %d) has %.0f numbers, more than MaxTemplateRange (%d)",
			start, stop, step, count, MaxTemplateRange))
	}
	n := int64(count)
	if err := p.cur.charge(1+n/16, n*8, "range"); err != nil {
		return nil, err
	}
	out := make([]int, 0, n)
	for i, v := int64(0), start; i < n; i, v = i+1, v+step {
		out = append(out, int(v))
	}
	return out, nil
}

// wrapMacro bounds the depth of calls to macro m and charges each call and
// what it returns.
func (p *chatProgram) wrapMacro(name string, m exec.Macro) exec.Macro {
	return func(va *exec.VarArgs) *exec.Value {
		sb := p.cur
		if sb.depth >= MaxTemplateCallDepth {
			return errValue(sb.fail(limitError("macro %s: calls nest more than MaxTemplateCallDepth (%d) deep", name, MaxTemplateCallDepth)))
		}
		if err := sb.charge(1, 0, "macro "+name); err != nil {
			return errValue(err)
		}
		sb.depth++
		out := m(va)
		sb.depth--
		if sb.err != nil {
			return errValue(sb.err)
		}
		if err := sb.charge(0, shallowBytes(out), "macro "+name); err != nil {
			return errValue(err)
		}
		return out
	}
}

// valueCost is what the sandbox knows about a value's size.
type valueCost struct {
	bytes int64 // length of a string
	items int64 // items of a list or dict, 0 for a scalar
	// plain and escaped bound the length of the value printed by gonja
	// (String) and by tojson; nodes counts the values inside. For a list or
	// dict they are known only when it was measured deeply.
	plain, escaped, nodes int64
}

// steps is what touching the value once costs.
func (c valueCost) steps() int64 { return 1 + c.items + c.nodes + c.bytes/bytesPerStep }

// measure sizes v. Strings and scalars cost O(1) to measure; a list or
// dict is measured deeply (every value inside, once) only when deep is
// set: for operations that print, compare or convert it recursively. Deep
// measuring fails for a value nested deeper than MaxJSONDepth, or cyclic,
// whose recursive printing would exhaust the stack.
func (p *chatProgram) measure(v *exec.Value, deep bool) (valueCost, error) {
	if v == nil || !v.Val.IsValid() {
		return valueCost{plain: 4, escaped: 4}, nil
	}
	rv := v.Val
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return valueCost{plain: 4, escaped: 4}, nil
		}
		if ev, ok := rv.Interface().(*exec.Value); ok {
			rv = ev.Val
			if !rv.IsValid() {
				return valueCost{plain: 4, escaped: 4}, nil
			}
			continue
		}
		rv = rv.Elem()
	}
	var c valueCost
	switch rv.Kind() {
	case reflect.String:
		c.bytes = int64(rv.Len())
		c.plain, c.escaped = c.bytes, sat(6*c.bytes+2)
		return c, nil
	case reflect.Slice, reflect.Array, reflect.Map:
		c.items = int64(rv.Len())
	case reflect.Struct:
		if d, ok := rv.Interface().(exec.Dict); ok {
			c.items = int64(len(d.Pairs))
		} else if o, ok := rv.Interface().(jsonObject); ok {
			c.items = int64(len(o.keys))
		} else {
			c.plain, c.escaped = 256, 256
			return c, nil
		}
	default:
		c.plain, c.escaped = 32, 32
		return c, nil
	}
	if !deep {
		return c, nil
	}
	sz := sizer{}
	if !sz.walk(rv, 0) {
		if sz.nodes > budget.steps {
			return c, p.cur.charge(sz.nodes, 0, "measuring a value")
		}
		return c, p.cur.fail(limitError("a value nests more than MaxJSONDepth (%d) levels deep (or contains itself)", MaxJSONDepth))
	}
	c.plain, c.escaped, c.nodes = sz.plain, sz.escaped, sz.nodes
	return c, nil
}

// sizer bounds the printed length of a list or dict, inside which gonja
// quotes strings and tojson may escape every byte six times over.
type sizer struct{ plain, escaped, nodes int64 }

// walk adds v and reports false if v nests more than MaxJSONDepth deep.
func (s *sizer) walk(v reflect.Value, depth int) bool {
	if depth > MaxJSONDepth || s.nodes > budget.steps {
		return false
	}
	s.nodes++
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			s.add(4, 4)
			return true
		}
		if ev, ok := v.Interface().(*exec.Value); ok {
			v = ev.Val
			if !v.IsValid() {
				s.add(4, 4)
				return true
			}
			continue
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		s.add(4, 4)
		return true
	}
	if v.Kind() == reflect.Struct {
		switch x := v.Interface().(type) {
		case jsonObject:
			s.add(2, 2)
			for _, k := range x.keys {
				s.add(int64(len(k))+4, 6*int64(len(k))+4)
				if !s.walk(reflect.ValueOf(x.vals[k]), depth+1) {
					return false
				}
			}
			return true
		case exec.Dict:
			s.add(2, 2)
			for _, pair := range x.Pairs {
				s.add(4, 4)
				if !s.walk(reflect.ValueOf(pair.Key), depth+1) || !s.walk(reflect.ValueOf(pair.Value), depth+1) {
					return false
				}
			}
			return true
		}
		s.add(256, 256)
		return true
	}
	switch v.Kind() {
	case reflect.String:
		n := int64(v.Len())
		s.add(n+2, 6*n+2)
	case reflect.Slice, reflect.Array:
		s.add(2, 2)
		for i := 0; i < v.Len(); i++ {
			s.add(2, 2)
			if !s.walk(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		s.add(2, 2)
		iter := v.MapRange()
		for iter.Next() {
			s.add(4, 4)
			if !s.walk(iter.Key(), depth+1) || !s.walk(iter.Value(), depth+1) {
				return false
			}
		}
	case reflect.Func, reflect.Chan:
		s.add(256, 256)
	default:
		s.add(32, 32) // numbers, booleans
	}
	return true
}

func (s *sizer) add(plain, escaped int64) {
	s.plain = sat(s.plain + plain)
	s.escaped = sat(s.escaped + escaped)
}

// sat keeps a size from overflowing.
func sat(n int64) int64 {
	if n < 0 || n > math.MaxInt64/8 {
		return math.MaxInt64 / 8
	}
	return n
}

// shallowBytes is the memory a value just built takes, not counting what
// it shares with its inputs: a string's bytes, a list's or dict's items.
func shallowBytes(v *exec.Value) int64 {
	if v == nil || !v.Val.IsValid() {
		return 0
	}
	rv := v.Val
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return 0
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.String:
		return int64(rv.Len())
	case reflect.Slice, reflect.Array, reflect.Map:
		return int64(rv.Len()) * itemBytes
	case reflect.Struct:
		if d, ok := rv.Interface().(exec.Dict); ok {
			return int64(len(d.Pairs)) * itemBytes
		}
	}
	return 0
}

// argsCost measures a call's arguments, deeply if deep or if one is a
// list or dict (which a filter or method may print).
func (p *chatProgram) argsCost(va *exec.VarArgs, deep bool) (valueCost, error) {
	var total valueCost
	add := func(v *exec.Value) error {
		c, err := p.measure(v, deep || isContainer(v))
		total.bytes += c.bytes
		total.items += c.items
		total.nodes += c.nodes
		total.plain = sat(total.plain + c.plain)
		total.escaped = sat(total.escaped + c.escaped)
		return err
	}
	if va == nil {
		return total, nil
	}
	for _, a := range va.Args {
		if err := add(a); err != nil {
			return total, err
		}
	}
	for _, a := range va.KwArgs {
		if err := add(a); err != nil {
			return total, err
		}
	}
	return total, nil
}

// isContainer reports whether v is a list or a dict.
func isContainer(v *exec.Value) bool {
	c := valueCost{}
	if v != nil && v.Val.IsValid() {
		rv := v.Val
		for (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && !rv.IsNil() {
			rv = rv.Elem()
		}
		switch rv.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map:
			return true
		case reflect.Struct:
			_, d := rv.Interface().(exec.Dict)
			_, o := rv.Interface().(jsonObject)
			return d || o
		}
	}
	return c.items > 0
}

// intArgs sums the absolute values of a call's integer arguments: widths,
// counts and precisions, which some filters and methods turn into that
// many bytes or items.
func intArgs(va *exec.VarArgs) int64 {
	var n int64
	add := func(v *exec.Value) {
		if v.IsInteger() {
			x := int64(v.Integer())
			if x < 0 {
				x = -x
			}
			n = sat(n + x)
		}
	}
	if va == nil {
		return 0
	}
	for _, a := range va.Args {
		add(a)
	}
	for _, a := range va.KwArgs {
		add(a)
	}
	return n
}

// formatWidths sums the numbers in a format string ("%-10s", "{:>20}"),
// an upper bound of the padding it may ask for.
func formatWidths(f string) int64 {
	var total, cur int64
	for i := 0; i < len(f); i++ {
		if c := f[i]; c >= '0' && c <= '9' {
			cur = sat(cur*10 + int64(c-'0'))
			continue
		}
		total = sat(total + cur)
		cur = 0
	}
	return sat(total + cur)
}

// tooMuch is an estimate no budget can pay.
const tooMuch = math.MaxInt64 / 8

// product is a*b, or tooMuch if that is beyond any budget.
func product(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > tooMuch/b {
		return tooMuch
	}
	return a * b
}

// constantFilters read only the length, or one item, of a list.
var constantFilters = map[string]bool{
	"length": true, "count": true, "first": true, "last": true, "default": true, "d": true, "safe": true, "attr": true,
}

// shallowFilters never read into the items of a list or dict they are
// given (their tests and filters, for select and map, are charged on
// their own), so a long conversation is not measured on every call.
var shallowFilters = map[string]bool{
	"length": true, "count": true, "first": true, "last": true, "default": true, "d": true, "safe": true,
	"attr": true, "reverse": true, "batch": true, "slice": true, "items": true, "select": true, "reject": true,
	"selectattr": true, "rejectattr": true, "map": true,
}

// shallowTests never compare or print the items of a list or dict.
var shallowTests = map[string]bool{
	"boolean": true, "callable": true, "defined": true, "undefined": true, "none": true, "string": true,
	"number": true, "integer": true, "float": true, "mapping": true, "iterable": true, "sequence": true,
	"true": true, "false": true, "filter": true, "test": true, "even": true, "odd": true, "divisibleby": true,
	"lower": true, "upper": true, "escaped": true,
}

// estimate bounds the bytes a filter or method called name builds from
// its input or object (in, and inStr if a string) and its arguments. Most
// build at most a few times what they are given; some multiply a size by
// a count, and are bounded exactly.
func estimate(name string, in valueCost, inStr string, va *exec.VarArgs, args valueCost) int64 {
	base := sat(3*(in.plain+args.plain) + (in.items+args.items)*itemBytes)
	switch name {
	case "length", "count", "wordcount", "first", "last", "default", "d", "safe", "attr", "random", "abs",
		"int", "float", "max", "min", "sum", "find", "rfind", "startswith", "endswith", "get", "pop",
		"isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isprintable",
		"isspace", "istitle", "isupper", "as_integer_ratio", "bit_count", "bit_length", "is_integer":
		return 0
	case "reverse", "sort", "unique", "select", "reject", "selectattr", "rejectattr", "map", "dictsort",
		"groupby", "items", "keys", "values", "append", "copy", "update", "setdefault", "clear":
		return sat((in.items + args.items + 1) * itemBytes)
	case "batch", "slice":
		return sat((in.items + intArgs(va) + 1) * itemBytes)
	case "center", "ljust", "rjust", "zfill", "truncate", "round", "filesizeformat", "urlize", "wordwrap":
		return sat(base + intArgs(va))
	case "indent":
		width := intArgs(va)
		if width == 0 {
			width = args.plain + 4
		}
		return sat(base + product(int64(strings.Count(inStr, "\n"))+1, width))
	case "expandtabs":
		width := intArgs(va)
		if width == 0 {
			width = 8
		}
		return sat(base + product(int64(strings.Count(inStr, "\t")), width))
	case "replace":
		if va == nil || len(va.Args) < 2 {
			return base
		}
		old, repl := va.Args[0].String(), int64(len(va.Args[1].String()))
		hits := int64(len(inStr)) + 1
		if old != "" {
			hits = int64(strings.Count(inStr, old))
		}
		return sat(base + product(hits, repl))
	case "join":
		// The filter joins its input with its argument; the method joins
		// its argument with the string it is called on.
		items := max(in.items, args.items)
		sep := int64(len(inStr)) + args.plain
		return sat(base + product(items, sep))
	case "format", "format_map":
		return sat(base + formatWidths(inStr) + intArgs(va))
	case "split", "rsplit":
		// Substrings share the string's bytes; each is one item.
		return sat((splitCount(inStr, va) + 1) * itemBytes)
	case "splitlines":
		return sat(int64(strings.Count(inStr, "\n")+strings.Count(inStr, "\r")+2) * itemBytes)
	case "partition", "rpartition":
		return 4 * itemBytes
	case "list":
		// A string becomes one item per character.
		return sat((int64(utf8.RuneCountInString(inStr)) + in.items + 1) * itemBytes)
	case "strip", "lstrip", "rstrip", "removeprefix", "removesuffix", "trim", "striptags":
		return sat(in.plain + args.plain)
	case "tojson", "pprint", "string", "escape", "e", "forceescape", "urlencode", "xmlattr":
		return sat(in.escaped + args.escaped + (in.items+1)*itemBytes)
	}
	return base
}

// splitCount bounds the pieces split cuts s into: one more than the
// separators it finds (the first argument, or runs of white space), at most
// maxsplit + 1.
func splitCount(s string, va *exec.VarArgs) int64 {
	var n int64
	sep := ""
	if va != nil && len(va.Args) > 0 && va.Args[0].IsString() {
		sep = va.Args[0].String()
	}
	if sep != "" {
		n = int64(strings.Count(s, sep))
	} else {
		inSpace := true
		for _, r := range s {
			space := unicode.IsSpace(r)
			if !space && inSpace {
				n++
			}
			inSpace = space
		}
	}
	if va != nil && len(va.Args) > 1 && va.Args[1].IsInteger() {
		if m := int64(va.Args[1].Integer()); m >= 0 && m < n {
			n = m
		}
	}
	return n + 1
}

// resultBytes is shallowBytes of what a method returned.
func resultBytes(x any) int64 {
	if v, ok := x.(*exec.Value); ok {
		return shallowBytes(v)
	}
	return shallowBytes(exec.AsValue(x))
}

// filters returns gonja's filters with tojson replaced by Python's
// json.dumps, each charged to the budget.
func (p *chatProgram) filters() (*exec.FilterSet, error) {
	all := map[string]exec.FilterFunction{}
	exec.NewFilterSet(all).Update(builtins.Filters)
	all["tojson"] = filterToJSON
	wrapped := make(map[string]exec.FilterFunction, len(all))
	for name, f := range all {
		wrapped[name] = p.wrapFilter(name, f)
	}
	return exec.NewFilterSet(wrapped), nil
}

func (p *chatProgram) wrapFilter(name string, f exec.FilterFunction) exec.FilterFunction {
	what := "filter " + name
	shallow := shallowFilters[name]
	return func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		ic, err := p.measure(in, !shallow)
		if err != nil {
			return errValue(err)
		}
		ac, err := p.argsCost(va, false)
		if err != nil {
			return errValue(err)
		}
		inStr := ""
		if in.IsString() {
			inStr = in.String()
		}
		if constantFilters[name] && in.IsList() {
			ic.items = 0
		}
		est := estimate(name, ic, inStr, va, ac)
		if err := p.cur.admit(ic.steps()+ac.steps()+est/bytesPerStep, est, what); err != nil {
			return errValue(err)
		}
		out := f(e, in, va)
		if err := p.cur.charge(0, shallowBytes(out), what); err != nil {
			return errValue(err)
		}
		return out
	}
}

// tests returns gonja's tests, each charged a step and what it reads.
func (p *chatProgram) tests() *exec.TestSet {
	all := map[string]exec.TestFunction{}
	exec.NewTestSet(all).Update(builtins.Tests)
	wrapped := make(map[string]exec.TestFunction, len(all))
	for name, t := range all {
		fn := reflect.ValueOf(t)
		byContext := fn.Type().In(0) == reflect.TypeFor[*exec.Context]()
		what := "test " + name
		deep := !shallowTests[name]
		wrapped[name] = func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) (bool, error) {
			ic, err := p.measure(in, deep)
			if err != nil {
				return false, err
			}
			ac, err := p.argsCost(va, deep)
			if err != nil {
				return false, err
			}
			if err := p.cur.charge(ic.steps()+ac.steps(), 0, what); err != nil {
				return false, err
			}
			first := reflect.ValueOf(e)
			if byContext {
				first = reflect.ValueOf(e.Environment.Context)
			}
			out := fn.Call([]reflect.Value{first, reflect.ValueOf(in), reflect.ValueOf(va)})
			err, _ = out[1].Interface().(error)
			return out[0].Bool(), err
		}
	}
	return exec.NewTestSet(wrapped)
}

// Method names of gonja's builtin types. A name missing from gonja is
// skipped; a method gonja adds later is unavailable until listed here.
var (
	strMethodNames = []string{"capitalize", "capwords", "casefold", "center", "count", "encode", "endswith",
		"expandtabs", "find", "format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit",
		"islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
		"lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rjust", "rpartition",
		"rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"}
	listMethodNames  = []string{"append", "copy", "reverse"}
	dictMethodNames  = []string{"clear", "copy", "get", "items", "keys", "pop", "setdefault", "update", "values"}
	intMethodNames   = []string{"as_integer_ratio", "bit_count", "bit_length", "is_integer"}
	floatMethodNames = []string{"as_integer_ratio", "hex", "is_integer"}
	boolMethodNames  = []string{"as_integer_ratio", "bit_count", "bit_length", "int", "string"}
)

// methods returns gonja's methods of strings, lists, dicts and numbers,
// each charged to the budget.
func (p *chatProgram) methods() exec.Methods {
	return exec.Methods{
		Str:   wrapMethods(p, builtins.Methods.Str, strMethodNames),
		List:  wrapMethods(p, builtins.Methods.List, listMethodNames),
		Dict:  wrapMethods(p, builtins.Methods.Dict, dictMethodNames),
		Int:   wrapMethods(p, builtins.Methods.Int, intMethodNames),
		Float: wrapMethods(p, builtins.Methods.Float, floatMethodNames),
		Bool:  wrapMethods(p, builtins.Methods.Bool, boolMethodNames),
	}
}

func wrapMethods[I any](p *chatProgram, set *exec.MethodSet[I], names []string) *exec.MethodSet[I] {
	out := map[string]exec.Method[I]{}
	for _, name := range names {
		m, ok := set.Get(name)
		if !ok {
			continue
		}
		what := "method " + name
		out[name] = func(self I, selfValue *exec.Value, va *exec.VarArgs) (any, error) {
			// gonja converts a list or dict to Go values, recursively,
			// before calling its method.
			sc, err := p.measure(selfValue, true)
			if err != nil {
				return nil, err
			}
			ac, err := p.argsCost(va, false)
			if err != nil {
				return nil, err
			}
			selfStr := ""
			if s, ok := any(self).(string); ok {
				selfStr = s
			}
			// gonja copied a list or dict (every value inside) to call it.
			copied := sc.nodes * itemBytes
			est := sat(estimate(name, sc, selfStr, va, ac) + copied)
			if err := p.cur.admit(sc.steps()+ac.steps()+est/bytesPerStep, est, what); err != nil {
				return nil, err
			}
			res, err := m(self, selfValue, va)
			if cerr := p.cur.charge(0, copied+resultBytes(res), what); cerr != nil {
				return nil, cerr
			}
			return res, err
		}
	}
	return exec.NewMethodSet(out)
}

package tokenizer

import (
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// gonja evaluates expressions with a type switch over its node types and
// offers no hook into it, so the sandbox rewrites the parsed template
// instead: every place where work or memory can grow with the data becomes
// a call to one of the hooks in hooks.go, which charges the rendering's
// budget before (or after) doing what the node did.
//
//   - a text node becomes a call printing its (pre-trimmed) text;
//   - {{ x }} prints hookOut(x);
//   - an operator a OP b (but and/or, which are lazy) becomes
//     hookOp(k, a, b), which evaluates operator k on the two values;
//   - for-loops iterate over hookIter(x);
//   - conditions (if, elif, inline if, and, or, not) test hookCond(x);
//   - indexing and slicing charge for what they copy (hookPre, hookPost);
//   - list, tuple and dict literals charge for their items (hookPost);
//   - every control structure charges a step, a macro's function is
//     wrapped to bound the call depth, and {% raw %} counts what it prints.
//
// The walk is generic, over the fields of gonja's node and control
// structure types; some of those fields are unexported, and are written
// through unsafe (setField). A field of a type the walk does not know
// holds no expressions (tests check that every control structure is
// covered).
type rewriter struct {
	p    *chatProgram
	seen map[uintptr]bool
	ops  map[*nodes.BinaryExpression]*nodes.Call
	err  error
}

var (
	nodesPkg      = reflect.TypeFor[nodes.Data]().PkgPath()
	structuresPkg = reflect.TypeFor[controlStructures.ForControlStructure]().PkgPath()
	nodeType      = reflect.TypeFor[nodes.Node]()
	exprType      = reflect.TypeFor[nodes.Expression]()
	csType        = reflect.TypeFor[nodes.ControlStructure]()
)

// walk visits v, a settable value inside the syntax tree, rewriting what it
// holds.
func (w *rewriter) walk(v reflect.Value, depth int) {
	if w.err != nil {
		return
	}
	if depth > maxTemplateAST {
		w.err = limitError("the template's expressions nest more than %d levels deep", maxTemplateAST)
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		inner := reflect.New(v.Elem().Type()).Elem()
		inner.Set(v.Elem())
		w.walk(inner, depth+1)
		if w.err != nil {
			return
		}
		if repl := w.replace(inner.Interface(), v.Type()); repl != nil {
			v.Set(reflect.ValueOf(repl))
			return
		}
		v.Set(inner)
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		if e.Kind() != reflect.Struct || !walkable(e.Type()) {
			return
		}
		if w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.walk(e, depth+1)
	case reflect.Struct:
		if !walkable(v.Type()) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			w.walk(settable(v.Field(i)), depth+1)
		}
		w.hookStruct(v)
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			w.walk(v.Index(i), depth+1)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			val := reflect.New(iter.Value().Type()).Elem()
			val.Set(iter.Value())
			w.walk(val, depth+1)
			v.SetMapIndex(iter.Key(), val)
		}
	}
}

// walkable reports whether values of t belong to the syntax tree: gonja's
// node and control-structure types, and the sandbox's own wrappers.
func walkable(t reflect.Type) bool {
	switch t.PkgPath() {
	case nodesPkg, structuresPkg:
		return true
	}
	return t == reflect.TypeFor[sandboxStructure]()
}

// settable returns f, a field of an addressable struct, in a form that can
// be read and written even when the field is unexported.
func settable(f reflect.Value) reflect.Value {
	if f.CanSet() {
		return f
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// hookStruct wraps the expressions of node v (a struct value, its
// children already rewritten) whose values the hooks must see.
func (w *rewriter) hookStruct(v reflect.Value) {
	switch n := v.Addr().Interface().(type) {
	case *nodes.Output:
		n.Expression = w.call(hookOut, n.Expression)
		if n.Alternative != nil {
			n.Alternative = w.call(hookOut, n.Alternative)
		}
		if n.Condition != nil {
			n.Condition = w.call(hookCond, n.Condition)
		}
	case *nodes.Negation:
		n.Term = w.call(hookCond, n.Term)
	case *nodes.GetItem:
		if e, ok := n.Node.(nodes.Expression); ok {
			n.Node = w.call(hookPre, e)
		}
	case *nodes.GetSlice:
		if e, ok := n.Node.(nodes.Expression); ok {
			n.Node = w.call(hookPre, e)
		}
	case *controlStructures.IfControlStructure:
		for i, c := range n.Conditions {
			if c != nil {
				n.Conditions[i] = w.call(hookCond, c)
			}
		}
	case *controlStructures.ForControlStructure:
		if n.Recursive {
			w.err = limitError("line %d: recursive for-loops are not available", n.Position().Line)
			return
		}
		n.ObjectEvaluator = w.call(hookIter, n.ObjectEvaluator)
		if n.IfCondition != nil {
			n.IfCondition = w.call(hookCond, n.IfCondition)
		}
	}
}

// replace returns what takes the place of node x in a field of type
// field, or nil to keep it.
func (w *rewriter) replace(x any, field reflect.Type) any {
	switch n := x.(type) {
	case *nodes.Data:
		if field != nodeType {
			return nil
		}
		k := len(w.p.texts)
		w.p.texts = append(w.p.texts, dataText(n))
		return &nodes.Output{
			Start:      n.Data,
			Expression: w.call(hookText, &nodes.Integer{Location: n.Data, Val: k}),
			End:        n.Data,
		}
	case *nodes.BinaryExpression:
		if !exprType.AssignableTo(field) && field != exprType && field != nodeType {
			return nil
		}
		switch n.Operator.Token.Type {
		case tokens.And, tokens.Or:
			n.Left = w.call(hookCond, n.Left)
			n.Right = w.call(hookCond, n.Right)
			return nil
		}
		if c, ok := w.ops[n]; ok {
			return c
		}
		k := len(w.p.ops)
		w.p.ops = append(w.p.ops, &nodes.BinaryExpression{
			Left:     &nodes.Name{Name: &tokens.Token{Type: tokens.Name, Val: hookLeft}},
			Right:    &nodes.Name{Name: &tokens.Token{Type: tokens.Name, Val: hookRight}},
			Operator: n.Operator,
		})
		c := w.call(hookOp, &nodes.Integer{Location: n.Operator.Token, Val: k}, n.Left, n.Right)
		w.ops[n] = c
		return c
	case *nodes.GetSlice, *nodes.List, *nodes.Tuple, *nodes.Dict:
		if field != exprType && field != nodeType {
			return nil
		}
		return w.call(hookPost, n.(nodes.Expression))
	case *nodes.ControlStructureBlock:
		return nil
	}
	if cs, ok := x.(nodes.ControlStructure); ok && field == csType {
		if _, done := cs.(*sandboxStructure); done {
			return nil
		}
		ecs, ok := cs.(exec.ControlStructure)
		if !ok {
			return nil
		}
		s := &sandboxStructure{Inner: cs, exec: ecs, p: w.p}
		switch c := cs.(type) {
		case *controlStructures.MacroControlStructure:
			s.macro = c.Name
		case *controlStructures.RawControlStructure:
			s.count = true
		}
		return s
	}
	return nil
}

// call builds hook(args...), placed where the first argument was.
func (w *rewriter) call(hook string, args ...nodes.Expression) *nodes.Call {
	pos := args[0].Position()
	name := &tokens.Token{Type: tokens.Name, Val: hook}
	if pos != nil {
		name.Pos, name.Line, name.Col = pos.Pos, pos.Line, pos.Col
	}
	return &nodes.Call{Location: pos, Func: &nodes.Name{Name: name}, Args: args, Kwargs: map[string]nodes.Expression{}}
}

// dataText is what the renderer prints for a text node (exec.Renderer.Visit).
func dataText(n *nodes.Data) string {
	output := n.Data.Val
	if n.RemoveFirstLineReturn {
		output = strings.TrimPrefix(output, "\r\n")
		output = strings.TrimPrefix(output, "\n")
	}
	if n.Trim.Left {
		output = strings.TrimLeft(output, " \r\n\t")
	}
	if n.Trim.Right {
		output = strings.TrimRight(output, " \r\n\t")
	}
	if n.RemoveTrailingWhiteSpaceFromLastLine {
		lines := strings.Split(output, "\n")
		lines = append(lines[0:len(lines)-1], strings.TrimRight(lines[len(lines)-1], " \n\t\r"))
		output = strings.Join(lines, "\n")
	}
	return output
}

// sandboxStructure runs a control structure within the budget: each
// execution is a step; a macro's function is wrapped so that calls are
// counted and their depth bounded; raw text is charged as it is printed.
type sandboxStructure struct {
	Inner nodes.ControlStructure
	exec  exec.ControlStructure
	p     *chatProgram
	macro string // the macro's name, for {% macro %}
	count bool   // charge what the structure prints
}

// Position implements nodes.ControlStructure.
func (s *sandboxStructure) Position() *tokens.Token { return s.Inner.Position() }

// String implements nodes.ControlStructure.
func (s *sandboxStructure) String() string { return s.Inner.String() }

// Execute implements exec.ControlStructure.
func (s *sandboxStructure) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	sb := s.p.cur
	if err := sb.charge(1, 0, "a block"); err != nil {
		return err
	}
	if s.count {
		sub := *r
		sub.Output = &chargingWriter{w: r.Output, sb: sb}
		return s.exec.Execute(&sub, tag)
	}
	if err := s.exec.Execute(r, tag); err != nil {
		return err
	}
	if s.macro == "" {
		return nil
	}
	fn, ok := r.Environment.Context.Get(s.macro)
	if !ok {
		return nil
	}
	m, ok := fn.(exec.Macro)
	if !ok {
		return fmt.Errorf("macro %s: unexpected %T", s.macro, fn)
	}
	r.Environment.Context.Set(s.macro, exec.Macro(s.p.wrapMacro(s.macro, m)))
	return nil
}

// chargingWriter charges what passes through it.
type chargingWriter struct {
	w  interface{ Write([]byte) (int, error) }
	sb *sandbox
}

func (c *chargingWriter) Write(b []byte) (int, error) {
	if err := c.sb.charge(1+int64(len(b))/256, int64(len(b)), "printing"); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

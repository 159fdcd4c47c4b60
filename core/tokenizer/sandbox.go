package tokenizer

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// The chat template comes from the model repository, so it is untrusted
// code. It runs in a sandbox, as Jinja's SandboxedEnvironment runs it for
// transformers: every rendering is bounded in time and memory, and a
// template that goes past a bound fails with an error wrapping
// ErrTemplateLimit that names the bound. docs/security.md describes the
// threat model.
const (
	// MaxTemplateSource is the longest chat template accepted, in bytes.
	MaxTemplateSource = 1 << 20
	// MaxTemplateNesting is how deeply brackets and blocks ({% if %},
	// {% for %}, ...) may nest in a template's source.
	MaxTemplateNesting = 64
	// MaxTemplateRange is the most numbers one range() may produce, as in
	// Jinja's sandbox (MAX_RANGE).
	MaxTemplateRange = 100_000
	// MaxTemplateCallDepth is how deeply macro calls may nest (a macro
	// that calls itself without end stops here).
	MaxTemplateCallDepth = 100
	// MaxTemplateSteps bounds the work of one rendering: a call, an
	// operator, a printed value each take a step, a loop iteration four,
	// plus one per KiB or per item of the values they touch.
	MaxTemplateSteps = 4_000_000
	// MaxTemplateAlloc bounds the bytes one rendering may build: strings
	// and lists made by operators, filters and methods, and text printed.
	MaxTemplateAlloc = 128 << 20
	// MaxTemplateOutput is the longest prompt a rendering may produce.
	MaxTemplateOutput = 32 << 20
	// MaxConversationBytes is the largest messages JSON (or tools JSON)
	// accepted by ApplyChatTemplateJSON.
	MaxConversationBytes = 16 << 20
	// MaxJSONDepth is how deeply arrays and objects may nest in the
	// messages and tools, and in the values a template builds.
	MaxJSONDepth = 64
)

// maxTemplateAST bounds the depth of the parsed template's syntax tree
// (chains such as a ~ b ~ c ~ ... nest one level per operator), so that
// evaluating it cannot exhaust the stack.
const maxTemplateAST = 512

// ErrTemplateLimit is wrapped by the error of a chat template that goes
// past one of the sandbox's limits (MaxTemplateSteps, MaxTemplateAlloc, ...),
// or that uses a feature the sandbox does not offer ({% include %},
// recursive loops).
var ErrTemplateLimit = errors.New("chat template sandbox limit")

// limitError formats a sandbox error naming the limit.
func limitError(format string, args ...any) error {
	return fmt.Errorf("chat template: %w: %s", ErrTemplateLimit, fmt.Sprintf(format, args...))
}

// Names of the sandbox's hooks in the render context. A colon cannot be
// part of a template's identifier, so a template can neither call nor
// replace them.
const (
	hookIter  = "sandbox:iter"
	hookOut   = "sandbox:out"
	hookText  = "sandbox:text"
	hookOp    = "sandbox:op"
	hookCond  = "sandbox:cond"
	hookPre   = "sandbox:pre"
	hookPost  = "sandbox:post"
	hookLeft  = "sandbox:l"
	hookRight = "sandbox:r"
)

// budget is the steps and bytes a rendering may use: MaxTemplateSteps and
// MaxTemplateAlloc (tests lower them to run quickly).
var budget = struct{ steps, alloc int64 }{MaxTemplateSteps, MaxTemplateAlloc}

// sandbox is what one rendering has used so far. The first limit reached
// is kept in err: gonja sometimes turns an error into a string or a false
// condition, and rendering must stop with that error whatever it does.
type sandbox struct {
	steps, alloc int64
	depth        int
	err          error
}

// charge adds steps and bytes, failing once a budget is spent.
func (s *sandbox) charge(steps, alloc int64, what string) error {
	if s.err != nil {
		return s.err
	}
	switch {
	case alloc < 0 || alloc > budget.alloc-s.alloc:
		s.err = limitError("%s would build %d bytes, and with the %d bytes built before that is more than MaxTemplateAlloc (%d)",
			what, alloc, s.alloc, budget.alloc)
	case steps < 0 || steps > budget.steps-s.steps:
		s.err = limitError("%s: the template took more than MaxTemplateSteps (%d) steps", what, budget.steps)
	}
	s.steps += steps
	s.alloc += alloc
	return s.err
}

// admit charges steps and checks that up to est more bytes fit the
// budget, without charging them: the caller charges what was built once it
// knows (an estimate is an upper bound, often far above).
func (s *sandbox) admit(steps, est int64, what string) error {
	if s.err == nil && (est < 0 || est > budget.alloc-s.alloc) {
		s.err = limitError("%s could build %d bytes, and with the %d bytes built before that is more than MaxTemplateAlloc (%d)",
			what, est, s.alloc, budget.alloc)
	}
	return s.charge(steps, 0, what)
}

// fail records err (if none is recorded yet) and returns the recorded one.
func (s *sandbox) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// chatProgram is a compiled chat template with its sandbox. Rendering is
// serialised by chatState, so cur, the running rendering's budget, needs
// no lock.
type chatProgram struct {
	tmpl    *exec.Template
	texts   []string                  // what each of the template's text nodes prints
	ops     []*nodes.BinaryExpression // operators, over the names hookLeft and hookRight
	globals *exec.Context
	cur     *sandbox
}

// allowedStructures are the control structures a chat template may use:
// everything but what loads other templates or inherits from them, which
// transformers' environment (no loader) does not offer either, and i18n.
var allowedStructures = []string{"autoescape", "filter", "for", "if", "macro", "raw", "set", "with", "do", "break", "continue", "call"}

// compileTemplate parses src with the settings transformers uses for chat
// templates (trim_blocks, lstrip_blocks), a tojson that prints like Python's
// json.dumps as transformers' does, and the sandbox. gonja's parser panics
// on some malformed templates ("{% if 0 is %}"); that is an error too.
func compileTemplate(src string) (prog *chatProgram, err error) {
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("chat template: parsing failed: %v", r)
		}
	}()
	const name = "/chat_template.jinja"
	cfg := config.New()
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	if err := checkTemplateSource(src, cfg); err != nil {
		return nil, err
	}
	p := &chatProgram{}
	allowed := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{})
	for _, n := range allowedStructures {
		parser, ok := controlStructures.All.Get(n)
		if !ok {
			continue
		}
		if err := allowed.Register(n, parser); err != nil {
			return nil, fmt.Errorf("chat template: %w", err)
		}
	}
	filters, err := p.filters()
	if err != nil {
		return nil, err
	}
	env := &exec.Environment{
		Context:           exec.EmptyContext(),
		Filters:           filters,
		Tests:             p.tests(),
		ControlStructures: allowed,
		Methods:           p.methods(),
	}
	loader, err := loaders.NewMemoryLoader(map[string]string{name: src})
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	tmpl, err := exec.NewTemplate(name, cfg, loader, env)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	rw := &rewriter{p: p, seen: map[uintptr]bool{}, ops: map[*nodes.BinaryExpression]*nodes.Call{}}
	rw.walk(reflect.ValueOf(tmpl.Root()).Elem(), 0)
	if rw.err != nil {
		return nil, rw.err
	}
	p.tmpl = tmpl
	p.globals = p.globalContext()
	return p, nil
}

// render executes the template on data within the sandbox's limits.
func (p *chatProgram) render(data map[string]any) (string, error) {
	sb := &sandbox{}
	p.cur = sb
	defer func() { p.cur = nil }()
	ctx := exec.EmptyContext().Update(p.globals).Update(exec.NewContext(data))
	w := &limitedWriter{max: MaxTemplateOutput}
	err := p.tmpl.Execute(w, ctx)
	switch {
	case sb.err != nil:
		return "", sb.err
	case w.err != nil:
		return "", w.err
	case err != nil:
		return "", fmt.Errorf("chat template: %w", err)
	}
	return w.buf.String(), nil
}

// limitedWriter collects the prompt, up to max bytes.
type limitedWriter struct {
	buf bytes.Buffer
	max int
	err error
}

func (w *limitedWriter) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.buf.Len()+len(b) > w.max {
		w.err = limitError("the prompt is longer than MaxTemplateOutput (%d bytes)", w.max)
		return 0, w.err
	}
	return w.buf.Write(b)
}

// checkTemplateSource bounds the template's size and how deeply its
// brackets and blocks nest (gonja's parser recurses once per level), and
// names the control structures the sandbox leaves out.
func checkTemplateSource(src string, cfg *config.Config) error {
	if len(src) > MaxTemplateSource {
		return limitError("the template is %d bytes, more than MaxTemplateSource (%d)", len(src), MaxTemplateSource)
	}
	openers := map[string]bool{"if": true, "for": true, "macro": true, "call": true, "filter": true,
		"with": true, "raw": true, "autoescape": true}
	banned := map[string]bool{"include": true, "import": true, "from": true, "extends": true, "block": true, "trans": true}
	s := tokens.LexAll(src, cfg)
	brackets, blocks := 0, 0
	var prev *tokens.Token
	inSet, setAssigned := false, false
	for !s.End() {
		tok := s.Next()
		switch tok.Type {
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			brackets++
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			brackets = max(brackets-1, 0)
		case tokens.Assign:
			setAssigned = true
		case tokens.BlockEnd:
			if inSet && !setAssigned { // {% set x %}...{% endset %}
				blocks++
			}
			inSet = false
		case tokens.Name:
			if prev == nil || prev.Type != tokens.BlockBegin {
				break
			}
			switch {
			case banned[tok.Val]:
				return limitError("line %d: {%% %s %%} is not available (the sandbox loads no other templates)", tok.Line, tok.Val)
			case openers[tok.Val]:
				blocks++
			case tok.Val == "set":
				inSet, setAssigned = true, false
			case strings.HasPrefix(tok.Val, "end"):
				blocks = max(blocks-1, 0)
			}
		}
		if brackets+blocks > MaxTemplateNesting {
			return limitError("line %d: brackets and blocks nest more than MaxTemplateNesting (%d) deep", tok.Line, MaxTemplateNesting)
		}
		prev = tok
	}
	return nil
}

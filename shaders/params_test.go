package shaders

import (
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// Every .wgsl file is declared in kernels, and every declared kernel has a
// file.
func TestKernelsDeclared(t *testing.T) {
	names := Names()
	for _, n := range names {
		require.Contains(t, kernels, n, "%s.wgsl is not declared in kernels.go", n)
	}
	for n := range kernels {
		require.Contains(t, names, n, "kernels.go declares %s, which has no .wgsl file", n)
	}
}

// wgslField is one field of a WGSL struct.
type wgslField struct{ name, typ string }

var (
	lineComment = regexp.MustCompile(`//[^\n]*`)
	paramsBlock = regexp.MustCompile(`(?s)struct\s+Params\s*\{(.*?)\}`)
	fieldDecl   = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([A-Za-z0-9_<>]+)\s*$`)
)

// wgslParams parses the fields of the `struct Params` of a kernel's source.
func wgslParams(t *testing.T, src string) []wgslField {
	t.Helper()
	src = lineComment.ReplaceAllString(src, "")
	m := paramsBlock.FindAllStringSubmatch(src, -1)
	require.Len(t, m, 1, "one struct Params")
	var fields []wgslField
	for _, f := range strings.Split(m[0][1], ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		d := fieldDecl.FindStringSubmatch(f)
		require.NotNil(t, d, "field %q", f)
		fields = append(fields, wgslField{d[1], d[2]})
	}
	return fields
}

// snake is the WGSL spelling of a Go field name: KVHeads is kv_heads, InF is
// in_f, Col0 is col0.
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func TestSnake(t *testing.T) {
	for goName, want := range map[string]string{
		"Rows": "rows", "KVHeads": "kv_heads", "HeadDim": "head_dim", "InF": "in_f",
		"OutLd": "out_ld", "Col0": "col0", "NRows": "n_rows", "KVDim": "kv_dim", "N": "n", "K": "k",
	} {
		require.Equal(t, want, snake(goName), goName)
	}
}

// wgslType is the WGSL type of a Go field type.
var wgslType = map[reflect.Kind]string{
	reflect.Uint32:  "u32",
	reflect.Int32:   "i32",
	reflect.Float32: "f32",
}

// TestParamsMatchWGSL holds each kernel's Go Params struct to its WGSL
// `struct Params`: the same fields (rows ↔ Rows, kv_heads ↔ KVHeads), in
// the same order, of the same types (u32 ↔ uint32, f32 ↔ float32, i32 ↔
// int32), laid out as the words Pack copies: field i at byte 4i.
func TestParamsMatchWGSL(t *testing.T) {
	for _, n := range Names() {
		t.Run(n, func(t *testing.T) {
			src, err := files.ReadFile(n + ".wgsl")
			require.NoError(t, err)
			want := wgslParams(t, string(src))
			k, ok := kernels[n]
			require.True(t, ok, "%s is not declared in kernels.go", n)
			typ := reflect.TypeOf(k.params)
			require.Equal(t, reflect.Struct, typ.Kind())
			var got []wgslField
			for i := range typ.NumField() {
				f := typ.Field(i)
				got = append(got, wgslField{snake(f.Name), wgslType[f.Type.Kind()]})
				require.Equal(t, uintptr(4*i), f.Offset, "%s.%s: field %d at byte %d", typ.Name(), f.Name, i, f.Offset)
				require.Equal(t, uintptr(4), f.Type.Size(), "%s.%s", typ.Name(), f.Name)
			}
			require.Equal(t, want, got, "%s.wgsl's struct Params against %s", n, typ.Name())
			require.LessOrEqual(t, typ.NumField(), ParamWords)
			require.Equal(t, uintptr(4*typ.NumField()), typ.Size())
		})
	}
}

// checkPack fills each field of a P with a distinct value and checks that
// Pack puts field i, as its bits, in word i and zeros after.
func checkPack[P Params](t *testing.T) {
	t.Helper()
	var p P
	v := reflect.ValueOf(&p).Elem()
	var want [ParamWords]uint32
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint32:
			f.SetUint(uint64(1000 + i))
			want[i] = uint32(1000 + i)
		case reflect.Int32:
			f.SetInt(int64(-1 - i))
			want[i] = uint32(int32(-1 - i))
		case reflect.Float32:
			f.SetFloat(float64(0.5 + float32(i)))
			want[i] = math.Float32bits(0.5 + float32(i))
		default:
			t.Fatalf("%T.%s: kind %v", p, v.Type().Field(i).Name, f.Kind())
		}
	}
	require.Equal(t, want, Pack(p), "%T", p)
}

func TestPack(t *testing.T) {
	checkPack[AddParams](t)
	checkPack[ArgmaxParams](t)
	checkPack[AttentionParams](t)
	checkPack[EmbedParams](t)
	checkPack[GatherParams](t)
	checkPack[KVCacheParams](t)
	checkPack[LinearParams](t)
	checkPack[RMSNormParams](t)
	checkPack[RopeParams](t)
	checkPack[SwiGLUParams](t)
	checkPack[TopKParams](t)
	require.Equal(t, [ParamWords]uint32{3, 4, math.Float32bits(1e-6)}, Pack(RMSNormParams{Rows: 3, Width: 4, Eps: 1e-6}))
}

// Pack runs for every dispatch the device records: it must not allocate.
func TestPackAllocs(t *testing.T) {
	p := AttentionParams{Rows: 1, Heads: 2, Scale: 0.5}
	var sink [ParamWords]uint32
	require.Zero(t, testing.AllocsPerRun(100, func() { sink = Pack(p) }))
	require.Equal(t, uint32(2), sink[1])
}

var (
	workgroupSize = regexp.MustCompile(`@workgroup_size\(([^)]*)\)`)
	workgroupVar  = regexp.MustCompile(`var<workgroup>\s+\w+\s*:\s*array<\s*\w+\s*,([^>]*)>`)
	gridStride    = regexp.MustCompile(`nwg\.x\s*\*\s*([0-9][0-9a-fA-Fxu]*)`)
	digit         = regexp.MustCompile(`[0-9]`)
)

// TestNoHardcodedWorkgroupSizes checks that the .wgsl files name their
// workgroup sizes and never write them: every @workgroup_size, workgroup
// array size and 2-D grid stride is an expression of named constants, and
// the constants Source declares from Go are neither declared in the file
// nor left unused by it.
func TestNoHardcodedWorkgroupSizes(t *testing.T) {
	for _, n := range Names() {
		t.Run(n, func(t *testing.T) {
			b, err := files.ReadFile(n + ".wgsl")
			require.NoError(t, err)
			code := lineComment.ReplaceAllString(string(b), "")
			sizes := workgroupSize.FindAllStringSubmatch(code, -1)
			require.NotEmpty(t, sizes, "no entry point")
			for _, m := range sizes {
				require.False(t, digit.MatchString(m[1]), "%s: a literal workgroup size %q", n, m[0])
			}
			for _, m := range workgroupVar.FindAllStringSubmatch(code, -1) {
				require.False(t, digit.MatchString(m[1]), "%s: a workgroup array of literal size %q", n, m[0])
			}
			require.Empty(t, gridStride.FindAllString(code, -1), "%s: the grid's row stride is a literal", n)

			wt := map[bool]WeightType{true: WeightF32, false: NoWeight}[strings.Contains(code, "load_w(") || strings.Contains(code, kvUses)]
			if strings.Contains(code, blockUses) {
				wt = WeightQ8_0
			}
			src, err := Source(n, wt)
			require.NoError(t, err)
			for _, c := range kernels[n].consts {
				name := regexp.QuoteMeta(c.Name)
				require.NotRegexp(t, `\b(const|override|let|var)\s+`+name+`\b`, code, "%s declares %s, which Source declares", n, c.Name)
				require.Regexp(t, `\b`+name+`\b`, code, "%s does not use %s", n, c.Name)
				require.Len(t, regexp.MustCompile(`\bconst\s+`+name+`\b`).FindAllString(src, -1), 1, "Source declares %s once", c.Name)
			}
		})
	}
}

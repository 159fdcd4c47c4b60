package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
	"github.com/nano-vllm-go/nano-vllm-go/core/hub"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// quantizeHelp documents --quantize.
const quantizeHelp = "quantize the weights on load to `TYPE` q8_0 or q4_0 (ggml's blocks, as llama-quantize makes them: about 2x and 3.5x smaller than bf16; norms stay as stored, GGUF weights already quantized are kept); none keeps them as stored"

// weightQuant is the value of --quantize: none (device.F32, "as stored"),
// q8_0 or q4_0.
type weightQuant device.DType

// DType is qwen3.Options.Quantize.
func (q weightQuant) DType() device.DType { return device.DType(q) }

// MarshalText implements encoding.TextMarshaler (the flag's default).
func (q weightQuant) MarshalText() ([]byte, error) {
	if device.DType(q) == device.F32 {
		return []byte("none"), nil
	}
	return []byte(device.DType(q).String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (q *weightQuant) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "", "none":
		*q = weightQuant(device.F32)
	case "q8_0":
		*q = weightQuant(device.Q8_0)
	case "q4_0":
		*q = weightQuant(device.Q4_0)
	default:
		return fmt.Errorf("%q: want q8_0, q4_0 or none", b)
	}
	return nil
}

// fileType is the value of quantize --type.
type fileType device.DType

func (t fileType) MarshalText() ([]byte, error) { return []byte(device.DType(t).String()), nil }

func (t *fileType) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "q8_0":
		*t = fileType(device.Q8_0)
	case "q4_0":
		*t = fileType(device.Q4_0)
	case "q4_k":
		*t = fileType(device.Q4_K)
	case "bf16":
		*t = fileType(device.BF16)
	case "f32":
		*t = fileType(device.F32)
	default:
		return fmt.Errorf("%q: want q8_0, q4_0, q4_k, bf16 or f32", b)
	}
	return nil
}

const quantizeUsage = `Writes a model as a GGUF file that llama.cpp (and nanovllm --model FILE.gguf)
loads: the metadata llama.cpp's convert_hf_to_gguf.py writes for Qwen3, every
2-D weight in --type (quantized with ggml's reference quantizers, byte for byte
what llama-quantize --pure makes), norms as F32, and the tokenizer from
tokenizer.json when the model has one (else token ids only).`

// runQuantize is `nanovllm quantize`.
func runQuantize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("quantize", flag.ContinueOnError)
	fl.SetOutput(stderr)
	model := fl.String("model", "", modelHelp)
	typ := fileType(device.Q8_0)
	fl.TextVar(&typ, "type", fileType(device.Q8_0), "`TYPE` of the 2-D weights: q8_0, q4_0, q4_k (rows a multiple of 256 values), bf16 or f32")
	out := fl.String("out", "", "the GGUF `FILE` to write")
	name := fl.String("name", "", "general.name (default: the model's name and the type, e.g. \"Qwen3-0.6B Q8_0\")")
	force := fl.Bool("force", false, "overwrite --out if it exists")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: nanovllm quantize --model DIR|REPO|FILE.gguf --type q8_0|q4_0|q4_k --out FILE.gguf\n\n%s\n\nFlags:\n", quantizeUsage)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "quantize: unexpected argument %q\n", fl.Arg(0))
		return errUsage
	}
	if *out == "" {
		return errors.New("--out FILE.gguf is required")
	}
	if !*force && exists(*out) {
		return fmt.Errorf("--out %s exists; pass --force to overwrite it", *out)
	}
	if strings.HasPrefix(*model, qwen3.RandomPrefix) {
		return fmt.Errorf("--model %s: quantize needs a checkpoint (a directory, a repo id or a .gguf file)", *model)
	}
	path, err := resolveModel(ctx, *model, stderr)
	if err != nil {
		return err
	}
	cfg, src, toks, closeSrc, err := quantizeSource(path)
	if err != nil {
		return fmt.Errorf("--model %s: %w", *model, err)
	}
	defer closeSrc()
	dt := device.DType(typ)
	opts := qwen3.GGUFWriteOptions{Name: *name, Type: dt, Tokenizer: toks}
	if opts.Name == "" {
		opts.Name = modelName(*model) + " " + strings.ToUpper(dt.String())
	}
	start := time.Now()
	n, err := writeFileAtomic(*out, func(w io.Writer) error { return qwen3.WriteGGUF(w, cfg, src, opts) })
	if err != nil {
		return err
	}
	tokNote := "token ids only (no tokenizer.json)"
	if toks != nil {
		tokNote = "tokenizer included"
	}
	fmt.Fprintf(stdout, "wrote %s: %s, %s, %.1f MB in %.1fs\n", *out, opts.Name, tokNote, float64(n)/1e6, time.Since(start).Seconds())
	return nil
}

// quantizeSource opens a resolved model path as a config, a tensor source
// and, when the model has a tokenizer, its GGUF metadata.
func quantizeSource(path string) (qwen3.Config, qwen3.Source, []gguf.KV, func(), error) {
	if isGGUFPath(path) {
		f, err := gguf.Open(path)
		if err != nil {
			return qwen3.Config{}, nil, nil, nil, err
		}
		cfg, err := qwen3.ConfigFromGGUF(f)
		if err != nil {
			f.Close()
			return qwen3.Config{}, nil, nil, nil, err
		}
		var toks []gguf.KV
		if m, _ := f.Metadata().String("tokenizer.ggml.model"); m != "" && m != "none" {
			for _, kv := range f.Metadata().All() {
				if strings.HasPrefix(kv.Key, "tokenizer.") {
					toks = append(toks, kv)
				}
			}
		}
		return cfg, qwen3.GGUFSource(f), toks, func() { f.Close() }, nil
	}
	cfg, _, err := qwen3.LoadConfig(path)
	if err != nil {
		return qwen3.Config{}, nil, nil, nil, err
	}
	ck, err := safetensors.OpenDir(path)
	if err != nil {
		return qwen3.Config{}, nil, nil, nil, err
	}
	var toks []gguf.KV
	tok, err := tokenizer.Load(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		ck.Close()
		return qwen3.Config{}, nil, nil, nil, fmt.Errorf("its tokenizer: %w", err)
	default:
		if toks, err = tok.GGUFMetadata(cfg.VocabSize, cfg.BOSTokenID); err != nil {
			ck.Close()
			return qwen3.Config{}, nil, nil, nil, err
		}
	}
	return cfg, qwen3.FromSafetensors(ck.Tensor), toks, func() { ck.Close() }, nil
}

// modelName is the name a --model argument gives a model: the repo's name
// or the directory's (Qwen/Qwen3-0.6B@main -> Qwen3-0.6B).
func modelName(model string) string {
	if _, ok, _ := localModel(model); !ok {
		repo, _, _ := hub.ParseModelRef(model)
		model = repo
	}
	base := filepath.Base(filepath.Clean(model))
	if hub.IsGGUF(base) {
		base = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return base
}

// writeFileAtomic writes path through a temporary file in the same folder,
// renamed into place only when write succeeds, so a failed or interrupted
// run leaves no half-written model behind.
func writeFileAtomic(path string, write func(io.Writer) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return 0, err
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	cw := &countingWriter{w: bw}
	err = write(cw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", path, err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

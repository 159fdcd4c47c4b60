module github.com/nano-vllm-go/nano-vllm-go

go 1.26.8

require (
	github.com/hack-pad/safejs v0.1.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
)

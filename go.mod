module github.com/zenpatch/zenpatch

go 1.26.8

require (
	github.com/hashicorp/go-version v1.9.0
	github.com/pmezard/go-difflib v1.0.0
	github.com/sourcegraph/go-diff v0.9.0
	github.com/spf13/pflag v1.1.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/rogpeppe/go-internal v1.16.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/tools v0.26.0 // indirect
)

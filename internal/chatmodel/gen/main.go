// Command gen writes chatmodel's model and data set into a folder:
//
//	go run ./internal/chatmodel/gen OUTDIR
package main

import (
	"fmt"
	"os"

	"github.com/webtune/webtune/internal/chatmodel"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen OUTDIR")
		os.Exit(2)
	}
	if err := chatmodel.Write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

module github.com/webtune/webtune

go 1.26.0

require (
	github.com/norunners/vert v0.0.0-20221203075838-106a353d42dd
	github.com/syumai/workers v0.32.0
	gonum.org/v1/gonum v0.17.0
)

require github.com/ardanlabs/jinja v1.8.0 // indirect

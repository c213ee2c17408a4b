// Command lossplot draws the loss curve of a `webtune pretrain --loss-log`
// CSV (step,loss,eval_loss,lr,tokens,seconds) as a PNG with the standard
// library only: training loss per step (light), its centred 11-step mean (dark),
// held-out loss (orange dots and line), log-scaled loss axis.
//
//	go run ./models/internal/lossplot -title "webtune-stories-1m" losses.csv loss.png
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"
)

const (
	width, height = 900, 500
	left, right   = 90, 30
	top, bottom   = 60, 70
	scale         = 2 // font pixel size
)

var (
	white  = color.RGBA{255, 255, 255, 255}
	black  = color.RGBA{30, 30, 30, 255}
	grid   = color.RGBA{225, 225, 225, 255}
	light  = color.RGBA{160, 190, 230, 255}
	dark   = color.RGBA{20, 70, 160, 255}
	orange = color.RGBA{230, 110, 20, 255}
)

type point struct{ x, y float64 }

func main() {
	title := flag.String("title", "loss", "plot title")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: lossplot [-title T] losses.csv out.png")
		os.Exit(2)
	}
	train, eval, err := readCSV(flag.Arg(0))
	if err != nil || len(train) == 0 {
		fmt.Fprintln(os.Stderr, "lossplot:", err, len(train), "rows")
		os.Exit(1)
	}
	img := plot(*title, train, eval)
	f, err := os.Create(flag.Arg(1))
	if err == nil {
		err = png.Encode(f, img)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lossplot:", err)
		os.Exit(1)
	}
}

func readCSV(path string) (train, eval []point, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	for i, r := range rows {
		if i == 0 || len(r) < 3 {
			continue // header
		}
		s, err1 := strconv.ParseFloat(r[0], 64)
		l, err2 := strconv.ParseFloat(r[1], 64)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("row %d: %v %v", i+1, err1, err2)
		}
		train = append(train, point{s, l})
		if r[2] != "" {
			e, err := strconv.ParseFloat(r[2], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("row %d: %v", i+1, err)
			}
			eval = append(eval, point{s, e})
		}
	}
	return train, eval, nil
}

func plot(title string, train, eval []point) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), white)
	xmax := train[len(train)-1].x
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range append(append([]point{}, train...), eval...) {
		lo, hi = math.Min(lo, p.y), math.Max(hi, p.y)
	}
	lo, hi = math.Log(lo*0.9), math.Log(hi*1.05)
	px := func(x float64) int { return left + int(math.Round(x/xmax*float64(width-left-right))) }
	py := func(y float64) int {
		return top + int(math.Round((hi-math.Log(y))/(hi-lo)*float64(height-top-bottom)))
	}
	// grid and y labels at 1, 2, 3, 5 × 10^k
	for k := -2; k <= 2; k++ {
		for _, m := range []float64{1, 2, 3, 5} {
			v := m * math.Pow(10, float64(k))
			if math.Log(v) < lo || math.Log(v) > hi {
				continue
			}
			y := py(v)
			line(img, left, y, width-right, y, grid)
			lbl := strconv.FormatFloat(v, 'g', 3, 64)
			text(img, left-10-textWidth(lbl), y-7*scale/2, lbl, black)
		}
	}
	// x ticks: 5 divisions, rounded to a nice step
	stepX := niceStep(xmax / 5)
	for x := 0.0; x <= xmax+1e-9; x += stepX {
		line(img, px(x), top, px(x), height-bottom, grid)
		lbl := strconv.FormatFloat(x, 'f', -1, 64)
		text(img, px(x)-textWidth(lbl)/2, height-bottom+10, lbl, black)
	}
	line(img, left, height-bottom, width-right, height-bottom, black)
	line(img, left, top, left, height-bottom, black)
	text(img, (width-textWidth("step"))/2, height-bottom+35, "step", black)
	text(img, left, 8, title, black)
	for i := 1; i < len(train); i++ {
		line(img, px(train[i-1].x), py(train[i-1].y), px(train[i].x), py(train[i].y), light)
	}
	avg := smooth(train, 5)
	for i := 1; i < len(avg); i++ {
		thick(img, px(avg[i-1].x), py(avg[i-1].y), px(avg[i].x), py(avg[i].y), dark)
	}
	for i, p := range eval {
		if i > 0 {
			thick(img, px(eval[i-1].x), py(eval[i-1].y), px(p.x), py(p.y), orange)
		}
		fill(img, image.Rect(px(p.x)-4, py(p.y)-4, px(p.x)+5, py(p.y)+5), orange)
	}
	// legend
	lx, ly := width-right-400, top+10
	fill(img, image.Rect(lx, ly+5, lx+30, ly+9), dark)
	text(img, lx+40, ly, "train loss (mean of 11 steps)", black)
	fill(img, image.Rect(lx, ly+35, lx+30, ly+39), orange)
	text(img, lx+40, ly+30, "held-out loss", black)
	text(img, 10, top-24, "nats/token", black)
	return img
}

// smooth returns the centred moving average of ps over ±k points.
func smooth(ps []point, k int) []point {
	out := make([]point, len(ps))
	for i := range ps {
		lo, hi := max(0, i-k), min(len(ps), i+k+1)
		var s float64
		for _, p := range ps[lo:hi] {
			s += p.y
		}
		out[i] = point{ps[i].x, s / float64(hi-lo)}
	}
	return out
}

func niceStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a 1-pixel line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func thick(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	for _, d := range [][2]int{{0, 0}, {0, 1}, {1, 0}} {
		line(img, x0+d[0], y0+d[1], x1+d[0], y1+d[1], c)
	}
}

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs[' ']
		}
		for row, bits := range g {
			for col, b := range bits {
				if b == '#' {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += 6 * scale
	}
}

func textWidth(s string) int { return len([]rune(s))*6*scale - scale }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

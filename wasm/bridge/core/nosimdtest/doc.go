// Package nosimdtest holds one test of the page on a browser without
// WebAssembly SIMD: it must fall back to the pure-Go engine and train. It is
// a package of its own because the test hides SIMD from the whole process
// (its own test binary) before anything looks for it.
package nosimdtest

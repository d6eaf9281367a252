#!/bin/sh
# Instructions per merge of the details_3x1000 bench input, without the input's setup:
# callgrind counts of `merge_loop 40` minus `merge_loop 20`, divided by 20.
# Usage: perf/merge_icount.sh   (builds the example first; needs valgrind)
set -eu
cargo build --release -q -p miroir-benches --example merge_loop
bin=target/release/examples/merge_loop
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
a=$(count 20)
b=$(count 40)
echo "instructions per merge: $(( (b - a) / 20 ))"

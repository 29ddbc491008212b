#!/bin/bash
# plot.sh RESULTS.TSV OUT.svg: bar chart of every MB/s row of results.tsv,
# dcmfs against its reference (first number of the reference column), gnuplot.
set -euo pipefail
res=$1 out=$2
dat=$(mktemp)
trap 'rm -f "$dat"' EXIT
awk -F'\t' 'NR > 1 && $5 == "MB/s" {
	d = $3 + 0; r = $4; sub(/^[^0-9]*/, "", r); r = r + 0
	if ($3 !~ /^[0-9.]+$/) next
	lab = $2; sub(/ \(.*/, "", lab); gsub(/_/, "-", lab); gsub(/"/, "", lab)
	printf "\"%s\" %s %s\n", lab, d, r }' "$res" > "$dat"
[ -s "$dat" ] || { echo "plot.sh: no MB/s rows" >&2; exit 0; }
gnuplot <<GP
set terminal svg size 1000,520 dynamic font "sans,11"
set output "$out"
set title "dcmfs vs reference (MB/s, median of runs; reference: cp -r+sync, ext4 page cache, Orthanc off)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -30 left
set ylabel "MB/s"
set key top right
set grid ytics
set bmargin 9
set rmargin 8
plot "$dat" using 2:xtic(1) title "dcmfs", "" using 3 title "reference"
GP

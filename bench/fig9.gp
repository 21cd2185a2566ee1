# fig9.gp: LightVM's Figure 9 on this host, from bench_pool's fig9.dat.
#   gnuplot -e "datafile='fig9.dat'; outfile='fig9.png'; forkexec_ms=1.1; crun_ms=9.5; nvms=1000" bench/fig9.gp
# Columns: k cold_us daemon_us pool_us pool_hit ('-' = not measured).
# A median of -1 means that peer was not measured: its line is left out.
if (!exists("datafile")) datafile = 'build/bench/fig9/fig9.dat'
if (!exists("outfile")) outfile = 'build/bench/fig9/fig9.png'
if (!exists("forkexec_ms")) forkexec_ms = -1
if (!exists("crun_ms")) crun_ms = -1
if (!exists("nvms")) nvms = 1000

set terminal pngcairo size 1100,650 font ",11"
set output outfile
set datafile missing '-'
set title sprintf("Creating %d daytime VMs one after another: command to network up (lightvm on PVM KVM)", nvms)
set xlabel "VM number"
set ylabel "time to network up (ms)"
set logscale y
set format y "%g"
set grid ytics mytics xtics
set key bottom right box opaque
set xrange [0:nvms + 1]

fe = forkexec_ms > 0 ? forkexec_ms : NaN
cr = crun_ms > 0 ? crun_ms : NaN
plot datafile using 1:($2/1000) with points pt 7 ps 0.35 lc rgb "#d62728" title "cold: lightvm run", \
     datafile using 1:($3/1000) with points pt 7 ps 0.35 lc rgb "#1f77b4" title "lightvm create, lightvmd without a pool", \
     datafile using 1:($4/1000) with points pt 7 ps 0.35 lc rgb "#2ca02c" title "lightvm create, lightvmd with a pool", \
     fe with lines dt 2 lw 2 lc rgb "#444444" title sprintf("fork+exec of a static UDP sender (median %.2f ms)", forkexec_ms), \
     cr with lines dt 4 lw 2 lc rgb "#9467bd" title sprintf("crun run of a busybox container (median %.2f ms)", crun_ms)

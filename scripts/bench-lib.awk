# awk functions shared by the benchmark scripts' tables (prepended to their
# programs: awk "$(cat scripts/bench-lib.awk) ...").
# kv(k): the value of key=value field k of the current line ("" if none)
function kv(k,   i, a) { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
# med(v): the median of v, space-separated numbers (0 if none)
function med(v,   a, n, i, j, t) {
	n = split(v, a, " ")
	if (n == 0) return 0
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# add(arr, k, x): x appended to arr[k]'s space-separated list
function add(arr, k, x) { arr[k] = (k in arr) ? arr[k] " " x : x }

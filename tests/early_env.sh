#!/usr/bin/env bash
# The `ptune` executable sets two things the libraries read once as they
# start (apps/main.c: DT_PREINIT_ARRAY and slots of the initial environment
# lent to them), and leaves what the environment chose alone; an environment
# without any of the shell variables it can lend a slot of (env -i) keeps
# the libraries' defaults:
#  - OpenBLAS's kernels for this CPU (OPENBLAS_CORETYPE): OpenBLAS names the
#    core it runs with OPENBLAS_VERBOSE=2; the expected one is read here from
#    /proc/cpuinfo's flags, independently of ptune's CPUID code;
#  - libgomp's spinning bounded: libgomp shows what it read with
#    OMP_DISPLAY_ENV=VERBOSE (GOMP_SPINCOUNT is the effective count: 300000
#    by default, 0 for PASSIVE).
#
#   tests/early_env.sh PTUNE_EXE
set -u
EXE=${1:?usage: early_env.sh PTUNE_EXE}
fails=0
# expect NAME WANT ENV...: ptune --help's libgomp settings hold WANT
expect() {
  local name=$1 want=$2 got
  shift 2
  got=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$@" OMP_DISPLAY_ENV=VERBOSE "$EXE" --help 2>&1 >/dev/null |
    grep -E "^ *GOMP_SPINCOUNT = ")
  if [[ "$got" == *"'$want'"* ]]; then
    echo "ok   $name: $got"
  else
    echo "FAIL $name: want GOMP_SPINCOUNT '$want', libgomp says: ${got:-nothing}"
    fails=$((fails + 1))
  fi
}
expect "no setting in the environment: bounded" 1000 SHLVL=1
# one slot goes to the OpenBLAS core first: here the environment names it
expect "the same with only _ to lend" 1000 -u SHLVL -u OLDPWD -u PWD -u TERM -u LS_COLORS _=/bin/ptune OPENBLAS_CORETYPE=Haswell
expect "the environment's spin count" 7 GOMP_SPINCOUNT=7
expect "the environment's passive policy" 0 OMP_WAIT_POLICY=PASSIVE
expect "the environment's active policy" 30000000000 OMP_WAIT_POLICY=ACTIVE
got=$(env -i OMP_DISPLAY_ENV=VERBOSE "$EXE" --help 2>&1 >/dev/null | grep -E "^ *GOMP_SPINCOUNT = ")
[[ "$got" == *"'300000'"* ]] && echo "ok   env -i: libgomp's default: $got" ||
  { echo "FAIL env -i: $got"; fails=$((fails + 1)); }

# core NAME WANT ENV...: the core OpenBLAS reports under ptune is WANT
core() {
  local name=$1 want=$2 got
  shift 2
  got=$(env -u OPENBLAS_CORETYPE "$@" OPENBLAS_VERBOSE=2 "$EXE" --help 2>&1 >/dev/null |
    sed -n 's/^Core: //p')
  if [ "$got" = "$want" ]; then
    echo "ok   $name: Core: $got"
  else
    echo "FAIL $name: want OpenBLAS core '$want', OpenBLAS says: ${got:-nothing}"
    fails=$((fails + 1))
  fi
}
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo 2>/dev/null | awk '{print $3}')
family=$(grep -m1 '^cpu family' /proc/cpuinfo 2>/dev/null | awk '{print $4}')
want=""
case "$flags" in
  *" avx512vl "*) want=SkylakeX ;; # with avx512_bf16 too (pt_blas_core.h)
  *" avx2 "*) want=Haswell ;;
  *" avx "*) want=Sandybridge ;;
esac
if { [ "$vendor" = AuthenticAMD ] || [ "$vendor" = HygonGenuine ]; } && [ "${family:-0}" -le 25 ]; then
  want="" # OpenBLAS knows these (Zen kernels): ptune leaves its choice
fi
if [ "$(uname -m)" != x86_64 ] || ! OPENBLAS_VERBOSE=2 "$EXE" --help 2>&1 >/dev/null | grep -q '^Core: '; then
  echo "skip OpenBLAS core: not x86-64, or this OpenBLAS does not pick cores at run time"
else
  own=$(env -i OPENBLAS_VERBOSE=2 "$EXE" --help 2>&1 >/dev/null | sed -n 's/^Core: //p')
  echo "info OpenBLAS's own choice on this CPU: $own"
  core "the CPU's features name the kernels" "${want:-$own}" SHLVL=1
  core "the same with only _ to lend" "${want:-$own}" -u SHLVL -u OLDPWD -u PWD -u TERM -u LS_COLORS _=/bin/ptune
  core "the environment's core" Haswell OPENBLAS_CORETYPE=Haswell
  core "env -i: OpenBLAS's own" "$own" -i
  # both settings lent at once, from two spare variables
  both=$(env -u OPENBLAS_CORETYPE -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u SHLVL -u OLDPWD -u PWD -u TERM -u LS_COLORS \
    _=/bin/ptune SHLVL=1 OPENBLAS_VERBOSE=2 OMP_DISPLAY_ENV=VERBOSE "$EXE" --help 2>&1 >/dev/null)
  if [[ "$both" == *"Core: ${want:-$own}"* ]] && [[ "$both" == *"GOMP_SPINCOUNT = '1000'"* ]]; then
    echo "ok   both settings from two spare variables"
  else
    echo "FAIL both settings from two spare variables: $(echo "$both" | grep -E 'Core:|GOMP_SPINCOUNT =')"
    fails=$((fails + 1))
  fi
fi
[ "$fails" -eq 0 ]

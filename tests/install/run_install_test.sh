#!/bin/sh
# Install test: installs a build tree to a temporary prefix and checks the
# installed files. It then builds tests/install/outside_plugin against that
# prefix twice, with find_package(advgnn) and with
# `cc $(pkg-config --cflags --libs advgnn)`. Both builds are loaded with the
# installed `advgnn plugins NAME --plugin-path DIR`, or with load_plugin.c when
# the install has no advgnn command.
#
# Usage: run_install_test.sh BUILD_DIR TEST_SOURCE_DIR LIBDIR CMAKE C_COMPILER PKG_CONFIG
# Exit status: 0 passed, 1 failed, 77 skipped (no cmake or no C compiler).
set -eu

build_dir=$1
source_dir=$2
libdir=$3
cmake=$4
cc=$5
pkg_config=$6

skip() {
    echo "SKIPPED: $*"
    exit 77
}

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

command -v "$cmake" >/dev/null 2>&1 || skip "cmake not found ($cmake)"
command -v "$cc" >/dev/null 2>&1 || skip "C compiler not found ($cc)"
# The build itself needs pkg-config, so a missing one is a failure, not a skip.
command -v "$pkg_config" >/dev/null 2>&1 || fail "pkg-config not found ($pkg_config)"

work=$(mktemp -d "${TMPDIR:-/tmp}/advgnn-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
prefix=$work/prefix

# Only the folders named on the command line and the install's own ones count.
unset ADVGNN_PLUGIN_PATH

# ---- install -------------------------------------------------------------

"$cmake" --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; fail "cmake --install $build_dir --prefix $prefix"; }

for file in "$libdir/libadvgnn.so" include/advgnn/plugin.h include/advgnn/options.h include/advgnn/advgnn.h \
    "$libdir/pkgconfig/advgnn.pc" "$libdir/cmake/advgnn/advgnnConfig.cmake" \
    "$libdir/cmake/advgnn/advgnnConfigVersion.cmake" "$libdir/cmake/advgnn/advgnnTargets.cmake" \
    "$libdir/cmake/advgnn/AdvgnnPlugin.cmake"; do
    [ -e "$prefix/$file" ] || fail "not installed: $file"
done

# Every bundled plugin of the build tree is installed, and no test plugin is.
for plugin in "$build_dir"/plugins/*.so; do
    [ -e "$plugin" ] || continue
    name=$(basename "$plugin")
    [ -e "$prefix/$libdir/advgnn/plugins/$name" ] || fail "bundled plugin not installed: $name"
done
if ls "$prefix/$libdir/advgnn/plugins" 2>/dev/null | grep -q '^abi_'; then
    fail "a test plugin from tests/plugins was installed"
fi
echo "installed to $prefix"

# ---- outside plugin, CMake package ----------------------------------------

generator=
if command -v ninja >/dev/null 2>&1; then
    generator="-G Ninja"
fi
# shellcheck disable=SC2086 # $generator is empty or two words
"$cmake" -S "$source_dir/outside_plugin" -B "$work/outside-cmake" $generator \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$work/outside-cmake.log" 2>&1 ||
    { cat "$work/outside-cmake.log"; fail "configuring the outside plugin with find_package(advgnn)"; }
"$cmake" --build "$work/outside-cmake" >>"$work/outside-cmake.log" 2>&1 ||
    { cat "$work/outside-cmake.log"; fail "building the outside plugin with CMake"; }
[ -f "$work/outside-cmake/mean_distance.so" ] || fail "CMake build made no mean_distance.so"

# ---- outside plugin, pkg-config -------------------------------------------

mkdir -p "$work/outside-pkgconfig"
flags=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" "$pkg_config" --cflags --libs advgnn) ||
    fail "pkg-config found no advgnn in $prefix/$libdir/pkgconfig"
# shellcheck disable=SC2086 # $flags is a list of compiler words
"$cc" -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -shared -fvisibility=hidden \
    -o "$work/outside-pkgconfig/mean_distance.so" "$source_dir/outside_plugin/mean_distance.c" $flags -lm ||
    fail "building the outside plugin with: cc \$(pkg-config --cflags --libs advgnn)"

# ---- load both builds ---------------------------------------------------------

advgnn=$prefix/bin/advgnn
check_output() {
    # check_output FILE TEXT: FILE contains TEXT
    grep -F -q -- "$2" "$1" || { cat "$1"; fail "expected '$2' in the output above"; }
}

for dir in "$work/outside-cmake" "$work/outside-pkgconfig"; do
    if [ -x "$advgnn" ]; then
        "$advgnn" plugins mean_distance --plugin-path "$dir" >"$work/out.txt" 2>&1 ||
            { cat "$work/out.txt"; fail "advgnn plugins mean_distance --plugin-path $dir"; }
        check_output "$work/out.txt" "mean_distance 1.0.0 (scorer plugin)"
        check_output "$work/out.txt" "file: $dir/mean_distance.so"
        check_output "$work/out.txt" "0.5 to 4"
    else
        echo "no $advgnn: loading with load_plugin.c"
        # shellcheck disable=SC2086
        "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -o "$work/load_plugin" "$source_dir/load_plugin.c" $flags -ldl \
            -Wl,-rpath,"$prefix/$libdir" || fail "building load_plugin.c against the installed library"
        "$work/load_plugin" "$dir/mean_distance.so" >"$work/out.txt" 2>&1 ||
            { cat "$work/out.txt"; fail "load_plugin $dir/mean_distance.so"; }
        check_output "$work/out.txt" "scorer plugin mean_distance 1.0.0"
        check_output "$work/out.txt" "option power number"
    fi
    echo "loaded $dir/mean_distance.so"
done

# ---- the installed command finds its own plugins -----------------------------

if [ -x "$advgnn" ]; then
    # Bundled plugins beside the installed library, whatever the prefix.
    "$advgnn" plugins >"$work/list.txt" 2>&1 || { cat "$work/list.txt"; fail "advgnn plugins"; }
    for plugin in "$prefix/$libdir"/advgnn/plugins/*.so; do
        [ -e "$plugin" ] || continue
        "$advgnn" plugins "$(basename "$plugin" .so)" >"$work/one.txt" 2>&1 ||
            { cat "$work/one.txt"; fail "advgnn plugins $(basename "$plugin" .so) (installed, bundled)"; }
        check_output "$work/one.txt" "file: $prefix/$libdir/advgnn/plugins/"
    done

    # `cmake --install` of the outside project puts it next to the bundled ones.
    "$cmake" --install "$work/outside-cmake" >"$work/outside-install.log" 2>&1 ||
        { cat "$work/outside-install.log"; fail "cmake --install of the outside plugin"; }
    [ -f "$prefix/$libdir/advgnn/plugins/mean_distance.so" ] ||
        fail "the outside plugin did not install to $prefix/$libdir/advgnn/plugins"
    "$advgnn" plugins mean_distance >"$work/out.txt" 2>&1 ||
        { cat "$work/out.txt"; fail "advgnn plugins mean_distance after installing it"; }
    check_output "$work/out.txt" "file: $prefix/$libdir/advgnn/plugins/mean_distance.so"
fi

echo "install test passed"

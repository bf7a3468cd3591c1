# The fixture's update check (`updateCheck: {command: [sh, tests/update-check.sh]}`), run by
# the scheduled pipeline inside each released image as `sh tests/update-check.sh <image-id>
# <result-file>`. busybox has no package manager, so the "packages" are pretend: the ids in
# the CI/CD variable E2E_OUTDATED have an update.
set -eu
id="$1"
result="$2"
test "$result" = "$GIPGEE_UPDATE_CHECK_RESULT_FILE"
# Only inside a fixture image, never on the host.
base="$(cat /etc/base-version)"
case " ${E2E_OUTDATED-} " in
  *" $id "*)
    printf 'UPGRADE_NEEDED\npretend-package 1.0 -> 1.1 (in %s on base %s)\n' "$id" "$base" >"$result"
    ;;
  *) printf 'NO_UPGRADE_NEEDED\n' >"$result" ;;
esac
echo "update check of $id: $(head -n 1 "$result")"

#!/bin/bash
# Installed as `bash` first on gitlab-ci-local's PATH by tests/e2e.rs.
#
# gitlab-ci-local's shell executor (--force-shell-executor) starts every job as `bash` with the
# job's environment and the path of the job script on stdin; it ignores the job's `image:`.
# A GitLab runner would run gipgee's test jobs (`test:<id>:<test>`, `image:` = the staging
# image, `entrypoint: [""]`) and the scheduled pipeline's update checks (`update-check:<id>`,
# `image:` = the released image) inside that image (of its `docker: platform:`, when it has
# one), so this wrapper does: it pulls the image
# ($GIPGEE_IMAGE, which the harness checks equals the job's `image: name`; pull policy
# "always") and runs the job script with the image's shell (bash, else sh, as a runner picks
# it) in a buildah container (chroot isolation, the host's network) with the project mounted
# and only the job's variables, never on the host. An image that cannot be pulled fails the
# job, as on a runner.
#
# Every job also gets its own empty registry auth file, as a fresh runner container would:
# a login in one job does not help another.
#
# Anything else (gitlab-ci-local's own `bash -c ...` calls) goes straight to /bin/bash.
if [[ $# -ne 0 || -z ${CI_JOB_NAME-} || -z ${GIPGEE_E2E_DIR-} ]]; then
  exec /bin/bash "$@"
fi

jobs_dir="$GIPGEE_E2E_DIR/jobs"
mkdir -p "$jobs_dir"
export REGISTRY_AUTH_FILE="$jobs_dir/auth-$CI_JOB_ID.json"
echo '{"auths": {}}' > "$REGISTRY_AUTH_FILE"

# `needs: [{pipeline: <parent>, job: gipgee:generate}]`, which gitlab-ci-local ignores: the plan
# job of an update-check pipeline whose rebuild is sharded downloads the rebuild layout from the
# parent pipeline's generate job, as GitLab does before the job's script. gitlab-ci-local starts
# the job in the project directory, keeps each job's files in .gitlab-ci-local/builds/<job> and
# its artifacts in .gitlab-ci-local/artifacts/<job> (`:` escaped as `Og`).
if [[ $CI_JOB_NAME == gipgee:plan ]]; then
  layout=.gitlab-ci-local/artifacts/gipgeeOggenerate/gipgee-rebuild-layout.json
  if [[ -f $layout ]]; then
    cp "$layout" .gitlab-ci-local/builds/gipgeeOgplan/
  fi
fi

case $CI_JOB_NAME in
  # Batched update checks run in the buildah image (on the host here): they pull each released
  # image and run its check inside it themselves.
  update-check:batch:*) exec /bin/bash ;;
  test:* | update-check:*) ;;
  *) exec /bin/bash ;;
esac

set -euo pipefail
image="${GIPGEE_IMAGE:?a $CI_JOB_NAME job without GIPGEE_IMAGE}"
# The script path (./.gitlab-ci-local/scripts/<job>_<id>, relative to the project), no newline.
IFS= read -r script || [[ -n $script ]]

# The job's variables: the environment less what the harness gave gitlab-ci-local itself.
drop=" $GIPGEE_E2E_HOST_ENV REGISTRY_AUTH_FILE PWD OLDPWD SHLVL _ "
env_args=()
while IFS= read -r -d '' entry; do
  [[ $drop == *" ${entry%%=*} "* ]] || env_args+=(--env "$entry")
done < <(env -0)

# A test job of a multi-platform image runs in its platform's image (the job's
# `image: docker: platform:`, which the harness checks equals GIPGEE_PLATFORM).
platform_args=()
if [[ -n ${GIPGEE_PLATFORM-} ]]; then
  platform_args=(--platform "$GIPGEE_PLATFORM")
  echo "gipgee e2e: platform $GIPGEE_PLATFORM"
fi
echo "gipgee e2e: running the job in its image $image (buildah run)"
if ! ctr=$(buildah from --pull=always --quiet "${platform_args[@]}" "$image"); then
  echo "gipgee e2e: cannot pull the job's image $image: the job fails, as on a runner"
  exit 1
fi
trap 'buildah rm "$ctr" >/dev/null' EXIT
# Like a runner's shell detection: bash when the image has it (the job script uses
# `set -o pipefail`, which Debian's dash lacks), else sh.
buildah run --isolation chroot "${env_args[@]}" --volume "$PWD:$PWD" --workingdir "$PWD" \
  "$ctr" -- sh -c 'if command -v bash >/dev/null; then exec bash "$0"; fi; exec sh "$0"' "$script"

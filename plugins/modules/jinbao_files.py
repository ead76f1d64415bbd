#!/usr/bin/python
"""Write a set of small files in one module run (check mode and --diff supported)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: jinbao_files
short_description: Write a set of small files in one run, each idempotently and atomically
description:
  - A role's configuration files (rendered on the controller) are written in one module
    execution instead of one per file; on a fleet of small nodes this is most of a converge.
  - Missing parent directories are created (root, 0755).
  - Each file is compared with what is there and replaced atomically only when its content,
    owner, group or mode differ. C(validate) checks the new content before it replaces the old.
  - Supports check mode and C(--diff), so a check-mode run reports exactly what would change
    (used by C(jinbao audit) for server drift).
options:
  files:
    description: The files; each has C(path), C(content), and optionally C(owner), C(group),
      C(mode) (octal string), C(validate) (a command with C(%s) for the new file) and
      C(secret) (true - its content never appears in a diff; keep such files in a task of
      their own with C(no_log), so the content is not logged with the arguments either).
    type: list
    elements: dict
    required: true
author: jinbao-net
"""

RETURN = r"""
changed_paths:
  description: Paths that were (or, in check mode, would be) written.
  type: list
  elements: str
  returned: always
"""

import grp
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _current(path: str):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        st = os.stat(path)
        return data, st.st_uid, st.st_gid, st.st_mode & 0o7777
    except FileNotFoundError:
        return None, None, None, None


def _shown(spec: dict, text: str) -> str:
    return "(secret: content not shown)\n" if spec.get("secret") else text


def main() -> None:
    module = AnsibleModule(
        argument_spec={"files": {"type": "list", "elements": "dict", "required": True}}, supports_check_mode=True
    )
    changed_paths, diffs = [], []
    for spec in module.params["files"]:
        path = spec["path"]
        content = spec["content"].encode()
        mode = int(str(spec.get("mode", "0644")), 8)
        try:
            uid = pwd.getpwnam(spec.get("owner", "root")).pw_uid
            gid = grp.getgrnam(spec.get("group", "root")).gr_gid
        except KeyError as exc:
            module.fail_json(msg=f"{path}: unknown owner or group: {exc}", changed_paths=changed_paths)
        data, cur_uid, cur_gid, cur_mode = _current(path)
        if data == content and (cur_uid, cur_gid, cur_mode) == (uid, gid, mode):
            continue
        changed_paths.append(path)
        if module._diff:
            diffs.append(
                {
                    "before_header": path,
                    "after_header": path,
                    "before": "" if data is None else _shown(spec, data.decode(errors="replace")),
                    "after": _shown(spec, spec["content"]),
                }
            )
        if module.check_mode:
            continue
        directory = os.path.dirname(path)
        # a missing parent is made root's, 0755 whatever the session's umask (level-3 logins: 027)
        previous = os.umask(0o022)
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        finally:
            os.umask(previous)
        fd, staging = tempfile.mkstemp(dir=directory, prefix=".jinbao-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.chown(staging, uid, gid)
            os.chmod(staging, mode)
            if spec.get("validate"):
                rc, out, err = module.run_command(spec["validate"] % staging)
                if rc != 0:
                    module.fail_json(
                        msg=f"{path}: the new content fails `{spec['validate']}`: {(err or out).strip()}",
                        changed_paths=changed_paths[:-1],
                    )
            os.replace(staging, path)  # same directory: atomic; owner and mode are the ones set above
            staging = None
        finally:
            if staging and os.path.exists(staging):
                os.unlink(staging)
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths, diff=diffs)


if __name__ == "__main__":
    main()

"""A ComfyUI custom node for our tests (our code, loaded by the test server).

AppTestGate passes its image through; the first time (no marker file yet) it writes the
marker and blocks until the server is killed, so that a test kills a server mid-job.
"""

import os
import threading


class AppTestGate:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "marker": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "app tests"

    def run(self, image, marker):
        if marker and not os.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write(str(os.getpid()))
            threading.Event().wait()
        return (image,)


NODE_CLASS_MAPPINGS = {"AppTestGate": AppTestGate}

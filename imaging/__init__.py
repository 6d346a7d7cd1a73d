"""The image room: decoding members' photos, encoding covers, compositing and lettering.

It stands below models/ and index/ so both can use it without reaching into worker/; of ours
it imports only `albumify` (errors, settings).
"""

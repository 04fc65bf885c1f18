# Attributes of the dropcap cookbook (the same settings as the Ansible role's defaults).

# Where the built binary comes from: a URL, or file:///path on the node.
default['dropcap']['binary_source'] = nil
default['dropcap']['binary_checksum'] = nil # SHA-256, recommended with a URL

default['dropcap']['bin_path'] = '/usr/local/bin/dropcap'
default['dropcap']['setcap_path'] = '/usr/local/sbin/dropcap-setcap'
# The binary is downloaded here first (root only, no capability), then installed atomically.
default['dropcap']['stage_path'] = '/var/cache/dropcap/dropcap'
default['dropcap']['conf_dir'] = '/etc/dropcap'
default['dropcap']['env_path'] = '/etc/dropcap/dropcap.env'
default['dropcap']['unit_path'] = '/etc/systemd/system/dropcap.service'

# Members of this group, and root, may execute the binary (root:GROUP 0750).
default['dropcap']['user'] = 'dropcap'
default['dropcap']['group'] = 'dropcap'

default['dropcap']['root'] = '/var/www/html'
default['dropcap']['https'] = ':443' # ADDR:PORT or 'off'
default['dropcap']['http'] = ':80'   # ADDR:PORT or 'off'
default['dropcap']['cert_path'] = '/etc/dropcap/cert.pem'
default['dropcap']['key_path'] = '/etc/dropcap/key.pem'
# URLs (or file:// paths) to fetch the certificate and key from; nil when something else
# (certbot, an ACME cookbook) manages the files.
default['dropcap']['cert_source'] = nil
default['dropcap']['key_source'] = nil
default['dropcap']['access_log'] = nil # nil: stdout, into the journal
default['dropcap']['extra_args'] = []

# false on nodes without systemd as PID 1: the unit is written, nothing is started.
default['dropcap']['manage_service'] = true

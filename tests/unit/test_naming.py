"""Compute host names in engine tags and staging file names, by table:
whatever Nova allows as a host name gives a valid tag, and distinct
ordinary names stay distinct."""

import re

import testscenarios
import testtools

from nova_docker import naming

# The engine's tag grammar.
TAG = re.compile(r'^[\w][\w.-]{0,127}$')


class HostTagTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('plain', dict(host='compute-1', expect='compute-1')),
        ('fqdn', dict(host='Compute1.Example.org',
                      expect='Compute1.Example.org')),
        ('leading dot', dict(host='.hidden', expect='_.hidden')),
        ('leading dash', dict(host='-x', expect='_-x')),
        ('other characters', dict(host='a b/c:d', expect='a_b_c_d')),
        ('too long', dict(host='h' * 200, expect='h' * 128)),
    ]

    def test_tag(self):
        tag = naming.host_tag(self.host)
        self.assertEqual(self.expect, tag)
        self.assertRegex(tag, TAG)
        ref = naming.snapshot_reference('5e12ac5b', self.host)
        self.assertEqual('nova-snapshot/5e12ac5b:' + tag, ref)


class StagingPrefixTest(testtools.TestCase):

    def test_prefix_names_the_host_and_stays_in_the_directory(self):
        self.assertEqual('nova-docker-image-a_b-',
                         naming.staging_prefix('a/b'))

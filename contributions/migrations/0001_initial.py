"""Contribution moves from dats into this app. State only: the table stays dats_contribution
(created by dats 0001) with its indexes and constraints; dats 0003 points DATs at this model and
drops it from the dats state."""

import contributions.models
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('dats', '0002_dat_tokens'),
        ('idaos', '0001_initial'),
        ('quorums', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Contribution',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.CharField(default=contributions.models.new_public_id, editable=False, max_length=32, unique=True)),
                        ('kind', models.CharField(choices=[('dataset', 'Dataset'), ('model_weights', 'Model weights'), ('agent', 'Agent definition'), ('model_update', 'Model update')], max_length=16)),
                        ('title', models.CharField(max_length=200)),
                        ('description', models.TextField(blank=True, max_length=5000)),
                        ('licence', models.CharField(max_length=80)),
                        ('usage_policy', models.JSONField(default=dict, help_text='The usage policy the contributor asks for.')),
                        ('storage_name', models.CharField(help_text='Generated; never derived from the upload.', max_length=255, unique=True)),
                        ('original_name', models.CharField(blank=True, help_text='Sanitised; metadata only.', max_length=255)),
                        ('size', models.BigIntegerField()),
                        ('sha256', models.CharField(db_index=True, max_length=66)),
                        ('keccak256', models.CharField(max_length=66)),
                        ('declared_type', models.CharField(blank=True, max_length=100)),
                        ('sniffed_type', models.CharField(blank=True, max_length=40)),
                        ('flags', models.JSONField(blank=True, default=list, help_text='Findings validators see: type_mismatch, duplicate, …')),
                        ('archive', models.JSONField(blank=True, default=dict)),
                        ('state', models.CharField(choices=[('uploaded', 'Uploaded (waiting for a quorum)'), ('routed', 'Routed to a quorum'), ('in_review', 'In review'), ('accepted', 'Accepted'), ('rejected', 'Rejected'), ('expired', 'Expired (no decision)')], default='uploaded', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('waiting_reason', models.CharField(blank=True, max_length=200)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('duplicate_of', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='contributions.contribution')),
                        ('idao', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='contributions', to='idaos.idao')),
                        ('owner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='contributions', to=settings.AUTH_USER_MODEL)),
                        ('round', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='quorums.round')),
                    ],
                    options={
                        'db_table': 'dats_contribution',
                        'ordering': ['-id'],
                        'indexes': [models.Index(fields=['state', 'id'], name='dats_contri_state_fb5703_idx'), models.Index(fields=['owner', 'id'], name='dats_contri_owner_i_44b844_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('size__gte', 0)), name='contribution_size_not_negative'), models.CheckConstraint(condition=models.Q(('sha256__regex', '^0x[0-9a-f]{64}$')), name='contribution_sha256_hex')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
